//! Source changes, from `notify`, filtered and debounced: editors write a
//! file in several steps, and a save should rebuild once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::project::Project;
use crate::DevError;

/// Quiet time after the last change before a rebuild starts.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// Watches the project's source directories; dropping it stops watching.
pub(crate) struct SourceWatcher {
    _watcher: notify::RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<PathBuf>,
}

impl std::fmt::Debug for SourceWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceWatcher").finish_non_exhaustive()
    }
}

impl SourceWatcher {
    /// Starts watching every directory of `project.watch`.
    pub(crate) fn start(project: &Project) -> Result<Self, DevError> {
        let filter = Filter::new(project);
        let (tx, changes) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                if filter.matters(&path) {
                    let _ = tx.send(path);
                }
            }
        })
        .map_err(|e| DevError::Watch(e.to_string()))?;
        for dir in &project.watch {
            watcher
                .watch(dir, RecursiveMode::Recursive)
                .map_err(|e| DevError::Watch(format!("{}: {e}", dir.display())))?;
        }
        Ok(Self { _watcher: watcher, changes })
    }

    /// Waits for the next change and for the writes around it to settle;
    /// returns the source file that changed.
    pub(crate) async fn next(&mut self) -> Option<PathBuf> {
        let mut changed = vec![self.changes.recv().await?];
        loop {
            match tokio::time::timeout(DEBOUNCE, self.changes.recv()).await {
                Ok(Some(path)) => changed.push(path),
                Ok(None) | Err(_) => return Some(saved_file(changed)),
            }
        }
    }

    /// Whether a change is already waiting (one came during a build).
    pub(crate) fn drain_pending(&mut self) -> Option<PathBuf> {
        let mut changed = Vec::new();
        while let Ok(path) = self.changes.try_recv() {
            changed.push(path);
        }
        (!changed.is_empty()).then(|| saved_file(changed))
    }
}

/// The file a save was about, among the paths it touched: editors write a
/// temporary file and rename it over the real one, so the path that still
/// exists is the one to name (the last such); a deletion names the first.
fn saved_file(mut changed: Vec<PathBuf>) -> PathBuf {
    let existing = changed.iter().rposition(|p| p.is_file());
    changed.swap_remove(existing.unwrap_or(0))
}

/// Which paths are source: not cargo's output, not version control, not
/// what `.gitignore` ignores, not an editor's temporary file.
struct Filter {
    target_dir: PathBuf,
    ignores: Vec<(PathBuf, Gitignore)>,
}

impl Filter {
    fn new(project: &Project) -> Self {
        let mut ignores = Vec::new();
        let mut roots: Vec<PathBuf> = project.watch.clone();
        // A workspace's .gitignore sits above its crates.
        for dir in &project.watch {
            roots.extend(dir.ancestors().skip(1).filter(|a| a.join(".gitignore").is_file()).map(Path::to_path_buf));
        }
        roots.sort();
        roots.dedup();
        for root in roots {
            let file = root.join(".gitignore");
            if file.is_file() {
                let mut builder = GitignoreBuilder::new(&root);
                if builder.add(&file).is_none() {
                    if let Ok(gitignore) = builder.build() {
                        ignores.push((root, gitignore));
                    }
                }
            }
        }
        Self { target_dir: project.target_dir.clone(), ignores }
    }

    fn matters(&self, path: &Path) -> bool {
        if path.starts_with(&self.target_dir) {
            return false;
        }
        if path.components().any(|c| c.as_os_str() == ".git" || c.as_os_str() == "target") {
            return false;
        }
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        // vim (.swp, 4913, ~), emacs (#x#, .#x), JetBrains (___jb_), kate.
        if name.starts_with('.')
            || name.starts_with('#')
            || name.ends_with('~')
            || name.ends_with(".swp")
            || name.ends_with(".swx")
            || name.contains("___jb_")
            || name == "4913"
        {
            return false;
        }
        let is_dir = path.is_dir();
        !self.ignores.iter().any(|(root, gitignore)| {
            path.starts_with(root) && gitignore.matched_path_or_any_parents(path, is_dir).is_ignore()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_by_rename_names_the_real_file_not_the_temporary_one() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let real = dir.path().join("lib.rs");
        std::fs::write(&real, "fn x() {}").expect("write");
        let temp = dir.path().join("lib.rs.tmp.1234");
        assert_eq!(saved_file(vec![temp.clone(), temp.clone(), real.clone()]), real);
        assert_eq!(saved_file(vec![real.clone(), temp.clone()]), real);
        // Only gone paths (a deletion): the first is named.
        let gone = dir.path().join("old.rs");
        assert_eq!(saved_file(vec![gone.clone(), temp]), gone);
    }
}
