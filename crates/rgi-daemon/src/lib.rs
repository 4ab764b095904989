//! The application's side of rgi's daemon mode: serving FastCGI.
//!
//! The same binary that runs embedded becomes a FastCGI daemon when
//! started with a listening socket on fd 0 (`rgi::run` decides), so rgi's
//! supervisor, nginx's spawn-fcgi or Apache's mod_fcgid can start it. This
//! crate is all an application binary links of daemon mode; the front's
//! side (the pool of daemons and their supervisor) is `rgi-supervisor`.

pub mod daemon;
pub mod socket;
mod sys;

/// The gid of a group by name (for a socket a front of that group reads).
pub fn group_id(name: &str) -> std::io::Result<u32> {
    sys::group_id(name)
}

/// The uid and primary gid of a user by name.
pub fn user_ids(name: &str) -> std::io::Result<(u32, u32)> {
    sys::user_ids(name)
}
