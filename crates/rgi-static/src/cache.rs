//! Small files kept in memory, so that serving one again costs no trip to
//! the blocking pool and no system call.
//!
//! An entry leaves the cache when the kernel says (inotify, through
//! `notify`) that its file or a directory above it changed, not when a
//! timer runs out: a hit is never staler than that word's delivery, a few
//! microseconds. A file is cached only once watches are in place on every
//! directory from the root down to it, and only if no change at all was
//! reported between the start of its lookup and its read (the generation
//! check), so no change can slip between the read and the watch. A
//! directory reported removed or moved is watched afresh when a file is
//! next cached under its path.
//!
//! Only files reached without a symbolic link are cached: a link's target
//! may lie in a directory nobody watches.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use rgi_core::bytes::Bytes;

use crate::meta::Meta;

/// The most directories one mount watches; past it, files in further
/// directories are served uncached (inotify watches are a per-user limit
/// shared with every other program).
const MAX_WATCHED: usize = 1024;

/// What a request named: its path under the root, and whether it ended
/// with `/` (a directory's index is served only then).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) path: PathBuf,
    pub(crate) slash: bool,
}

/// A cached file: its bytes and everything its response heads need.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) bytes: Bytes,
    pub(crate) meta: Meta,
    /// The file itself (a directory's index file, for a directory).
    pub(crate) file: PathBuf,
}

/// The cache of one mount.
pub(crate) struct Cache {
    entries: Arc<RwLock<Entries>>,
    capacity: usize,
    watch: Mutex<Watch>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Entries {
    files: HashMap<Key, Arc<Cached>>,
    bytes: usize,
    /// Bumped by every change the watcher reports.
    generation: u64,
    /// The directories watched. One the watcher reports changed (removed,
    /// moved, or its attributes) leaves the set, so that whatever
    /// directory has that path next is watched afresh.
    watched: HashSet<PathBuf>,
}

enum Watch {
    /// No watcher yet: made with the first file worth caching.
    NotYet,
    Watching(notify::RecommendedWatcher),
    /// The platform gave no watcher, or it failed: nothing is cached.
    Off,
}

/// Leave to cache `path`, granted by [`Cache::prepare`] on the blocking
/// pool before the file is read.
pub(crate) struct Ticket {
    generation: u64,
}

impl Cache {
    /// A cache holding up to `capacity` bytes of files; 0 holds none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Arc::default(),
            capacity,
            watch: Mutex::new(if capacity == 0 { Watch::Off } else { Watch::NotYet }),
        }
    }

    /// The cached file for what a request named.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Cached>> {
        if self.capacity == 0 {
            return None;
        }
        self.entries.read().unwrap_or_else(PoisonError::into_inner).files.get(key).cloned()
    }

    /// Watches every directory from `root` down to `file`'s, then grants a
    /// ticket to cache it; `None` when it cannot be watched. Blocks: call
    /// it on the blocking pool, before reading the file.
    pub(crate) fn prepare(&self, root: &Path, file: &Path, len: u64) -> Option<Ticket> {
        if self.capacity == 0 || usize::try_from(len).ok()? > self.capacity {
            return None;
        }
        // Taken first: a change reported from here on, to the file or to a
        // directory found watched below, keeps this read out of the cache.
        let generation = self.entries.read().unwrap_or_else(PoisonError::into_inner).generation;
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*watch, Watch::NotYet) {
            *watch = match self.watcher() {
                Ok(watcher) => Watch::Watching(watcher),
                Err(e) => {
                    tracing::warn!(error = %e, "static files are served uncached: no file watcher");
                    Watch::Off
                }
            };
        }
        let Watch::Watching(watcher) = &mut *watch else { return None };
        let below = file.parent()?.strip_prefix(root).ok()?;
        let mut dir = root.to_path_buf();
        for step in std::iter::once(None).chain(below.components().map(Some)) {
            if let Some(step) = step {
                dir.push(step);
            }
            {
                let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
                if entries.watched.contains(&dir) {
                    continue;
                }
                if entries.watched.len() >= MAX_WATCHED {
                    return None;
                }
                // In the set before the watch is made: a removal reported
                // as soon as it is made takes it out again.
                entries.watched.insert(dir.clone());
            }
            // Not under the entries' lock: the watcher's thread takes it to
            // report changes, and `watch` waits for that thread.
            if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::debug!(dir = %dir.display(), error = %e, "not caching files here: no watch");
                self.entries.write().unwrap_or_else(PoisonError::into_inner).watched.remove(&dir);
                return None;
            }
        }
        Some(Ticket { generation })
    }

    /// Keeps `file` for `key` unless a change arrived since `ticket` was
    /// granted; makes room by dropping other entries.
    pub(crate) fn insert(&self, key: Key, ticket: Ticket, file: Arc<Cached>) {
        let size = cost(&key, &file);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.generation != ticket.generation || size > self.capacity {
            return;
        }
        entries.remove(&key);
        while entries.bytes + size > self.capacity {
            let Some(victim) = entries.files.keys().next().cloned() else { break };
            entries.remove(&victim);
        }
        entries.bytes += size;
        entries.files.insert(key, file);
    }

    fn watcher(&self) -> notify::Result<notify::RecommendedWatcher> {
        let entries = Arc::downgrade(&self.entries);
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Some(entries) = entries.upgrade() {
                on_event(&entries, event);
            }
        })
    }
}

/// What the watcher reports, applied to the entries.
fn on_event(entries: &RwLock<Entries>, event: notify::Result<notify::Event>) {
    let mut entries = entries.write().unwrap_or_else(PoisonError::into_inner);
    match event {
        // Reading a file (ours included) changes nothing.
        Ok(event) if is_read(&event.kind) => {}
        Ok(event) if !event.need_rescan() => {
            entries.generation += 1;
            for changed in &event.paths {
                forget_under(&mut entries, changed);
                entries.watched.retain(|dir| !dir.starts_with(changed));
            }
        }
        // Events were lost (the queue overflowed) or the watcher failed:
        // trust nothing.
        _ => {
            entries.generation += 1;
            entries.files.clear();
            entries.bytes = 0;
            entries.watched.clear();
        }
    }
}

fn is_read(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Access(AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)))
}

/// Drops every entry at or under `changed`: a file, or a directory that
/// was moved or removed with everything in it.
fn forget_under(entries: &mut Entries, changed: &Path) {
    let Entries { files, bytes, .. } = entries;
    files.retain(|key, cached| {
        let keep = !cached.file.starts_with(changed);
        if !keep {
            *bytes -= cost(key, cached);
        }
        keep
    });
}

/// What an entry holds in memory, as the capacity counts it: the file's
/// bytes, its two paths and the rest of the entry, so that a cache of
/// many tiny files stays within its size too.
fn cost(key: &Key, cached: &Cached) -> usize {
    const ENTRY: usize = 256;
    cached.bytes.len() + key.path.as_os_str().len() + cached.file.as_os_str().len() + ENTRY
}

impl Entries {
    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.files.remove(key) {
            self.bytes -= cost(key, &old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{DataChange, ModifyKind};

    fn cached(file: &Path, bytes: &'static [u8]) -> Arc<Cached> {
        let meta = Meta::new(file, bytes.len() as u64, std::time::UNIX_EPOCH).expect("valid header values");
        Arc::new(Cached { bytes: Bytes::from_static(bytes), meta, file: file.to_path_buf() })
    }

    fn key(path: &Path) -> Key {
        Key { path: path.to_path_buf(), slash: false }
    }

    fn changed(path: &Path) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(EventKind::Modify(ModifyKind::Data(DataChange::Any))).add_path(path.to_path_buf()))
    }

    #[test]
    fn a_change_between_watch_and_insert_keeps_the_file_out() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (root, file) = (dir.path(), dir.path().join("a/b.txt"));
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("a directory");
        let cache = Cache::new(1 << 20);

        let ticket = cache.prepare(root, &file, 5).expect("watches");
        on_event(&cache.entries, changed(&file));
        cache.insert(key(&file), ticket, cached(&file, b"stale"));
        assert!(cache.get(&key(&file)).is_none(), "a file read before a change is not kept");

        let ticket = cache.prepare(root, &file, 5).expect("watches");
        on_event(
            &cache.entries,
            Ok(notify::Event::new(EventKind::Access(AccessKind::Open(notify::event::AccessMode::Any)))),
        );
        cache.insert(key(&file), ticket, cached(&file, b"fresh"));
        assert_eq!(cache.get(&key(&file)).expect("kept").bytes, "fresh", "opening a file changes nothing");

        // A directory above it moved: everything under it goes.
        on_event(&cache.entries, changed(&root.join("a")));
        assert!(cache.get(&key(&file)).is_none());
        assert_eq!(cache.entries.read().expect("entries").bytes, 0);
    }

    #[test]
    fn lost_events_empty_the_cache() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("f");
        let cache = Cache::new(1 << 20);
        let ticket = cache.prepare(dir.path(), &file, 1).expect("watches");
        cache.insert(key(&file), ticket, cached(&file, b"x"));
        on_event(&cache.entries, Err(notify::Error::generic("queue overflow")));
        assert!(cache.get(&key(&file)).is_none());
    }

    #[test]
    fn the_capacity_holds() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Room for two and a half entries like these, overhead included.
        let each = cost(&key(&dir.path().join("a")), &cached(&dir.path().join("a"), b"four"));
        let cache = Cache::new(each * 5 / 2);
        for name in ["a", "b", "c"] {
            let file = dir.path().join(name);
            let ticket = cache.prepare(dir.path(), &file, 4).expect("watches");
            cache.insert(key(&file), ticket, cached(&file, b"four"));
        }
        let entries = cache.entries.read().expect("entries");
        assert_eq!((entries.files.len(), entries.bytes), (2, 2 * each));
        drop(entries);
        assert!(
            cache.prepare(dir.path(), &dir.path().join("big"), (each * 3) as u64).is_none(),
            "larger than the whole cache"
        );
        assert!(Cache::new(0).prepare(dir.path(), &dir.path().join("a"), 1).is_none(), "size 0 keeps nothing");
    }
}
