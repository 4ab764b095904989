//! The open-files limit a server runs with.

/// Raises this process's soft limit on open files to its hard limit, as
/// nginx's `worker_rlimit_nofile` and Go's runtime do: every connection is
/// a descriptor (two, through a front), and the usual soft limit of 1,024
/// would refuse connections long before `max_connections`. Children
/// (daemons) inherit the raised limit. Logs and goes on if it cannot.
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open files limit"),
    }
}
