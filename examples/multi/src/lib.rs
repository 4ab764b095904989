//! Two applications in one server: `hello` under `/a` and `echo` under
//! `/b`. Each sees SCRIPT_NAME set to its prefix and PATH_INFO to the rest;
//! other paths get `404`.

use rgi::Mounts;

/// The mount table.
pub fn mounts() -> Mounts {
    let mut mounts = Mounts::new();
    mounts
        .add("/a", hello::Hello)
        .and_then(|m| m.add("/b", echo::Echo))
        .expect("two distinct constant prefixes always mount");
    mounts
}
