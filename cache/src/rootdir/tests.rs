use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// A workspace `ws` and a directory `outside` beside it, holding `precious.txt`.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(ws.join("data")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious.txt"), "mine").unwrap();
    std::fs::set_permissions(
        outside.join("precious.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    (d, ws, outside)
}

/// The root opened both ways: `openat2`, and the walk of a kernel without it.
fn both(ws: &Path) -> [RootDir; 2] {
    [
        RootDir::open(ws).unwrap(),
        RootDir::open_walking(ws).unwrap(),
    ]
}

fn outside_untouched(outside: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["precious.txt"]);
    let p = outside.join("precious.txt");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "mine");
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(m.nlink(), 1);
}

#[track_caller]
fn escapes(r: Result<impl std::fmt::Debug>, path: &str, link: &str) {
    match r {
        Err(Error::Escapes {
            path: p, link: l, ..
        }) => {
            assert_eq!((p.as_str(), l.as_str()), (path, link));
        }
        other => panic!("expected an escape through `{link}`, got {other:?}"),
    }
}

#[test]
fn a_link_that_leads_out_is_refused_naming_it_and_nothing_outside_changes() {
    let (_d, ws, outside) = setup();
    symlink(&outside, ws.join("abs")).unwrap();
    symlink("../../outside", ws.join("data/up")).unwrap();
    symlink("data/up", ws.join("chain")).unwrap();
    std::fs::write(ws.join("f"), "f").unwrap();
    for root in both(&ws) {
        escapes(
            root.write_atomic("abs/precious.txt", b"x", false),
            "abs/precious.txt",
            "abs",
        );
        escapes(root.remove("abs/precious.txt"), "abs/precious.txt", "abs");
        escapes(root.rename("f", "abs/f"), "abs/f", "abs");
        escapes(root.create_dir_all("data/up/new"), "data/up/new", "data/up");
        escapes(
            root.remove("chain/precious.txt"),
            "chain/precious.txt",
            "data/up",
        );
        let e = root
            .write_atomic("abs/x", b"x", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "cannot write `abs/x`: `abs` is a symbolic link to {}, which leads out of {}",
                outside.display(),
                ws.display()
            )),
            "{e}"
        );
    }
    // The link itself, at the end of a path, is the workspace's: it is removed as a
    // link, never followed.
    let root = RootDir::open(&ws).unwrap();
    assert!(root.remove("abs").unwrap());
    outside_untouched(&outside);
    assert!(ws.join("f").exists());
}

#[test]
fn a_relative_link_inside_is_followed_and_an_absolute_one_is_not() {
    let (_d, ws, outside) = setup();
    symlink("data", ws.join("in")).unwrap();
    symlink(ws.join("data"), ws.join("abs_in")).unwrap();
    for root in both(&ws) {
        root.write_atomic("in/sub/f", b"through", false).unwrap();
        assert_eq!(
            std::fs::read_to_string(ws.join("data/sub/f")).unwrap(),
            "through"
        );
        assert!(root.remove("in/sub").unwrap());
        assert!(!ws.join("data/sub").exists());
        escapes(
            root.write_atomic("abs_in/f", b"x", false),
            "abs_in/f",
            "abs_in",
        );
    }
    outside_untouched(&outside);
}

#[test]
fn a_tree_is_removed_without_following_the_links_in_it() {
    let (_d, ws, outside) = setup();
    std::fs::create_dir_all(ws.join("t/sub")).unwrap();
    std::fs::write(ws.join("t/a"), "a").unwrap();
    symlink(&outside, ws.join("t/dirlink")).unwrap();
    symlink(outside.join("precious.txt"), ws.join("t/sub/filelink")).unwrap();
    std::fs::set_permissions(ws.join("t/a"), std::fs::Permissions::from_mode(0o444)).unwrap();
    let root = RootDir::open(&ws).unwrap();
    assert!(root.remove("t").unwrap());
    assert!(!root.remove("t").unwrap(), "nothing left to remove");
    assert!(!ws.join("t").exists());
    outside_untouched(&outside);
}

#[test]
fn replace_puts_a_file_or_a_tree_in_place_of_either() {
    let (_d, ws, _outside) = setup();
    let root = RootDir::open(&ws).unwrap();
    let put = |tmp: &str, dir: bool| {
        if dir {
            std::fs::create_dir_all(ws.join(tmp)).unwrap();
            std::fs::write(ws.join(tmp).join("in"), "tree").unwrap();
        } else {
            std::fs::write(ws.join(tmp), "file").unwrap();
        }
    };
    // Each of file and tree over nothing, a file and a tree.
    for (i, (new_dir, old)) in [
        (false, None),
        (false, Some(false)),
        (false, Some(true)),
        (true, None),
        (true, Some(false)),
        (true, Some(true)),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("o{i}");
        match old {
            Some(true) => {
                std::fs::create_dir_all(ws.join(&name).join("deep")).unwrap();
                std::fs::write(ws.join(&name).join("deep/x"), "old").unwrap();
            }
            Some(false) => std::fs::write(ws.join(&name), "old").unwrap(),
            None => {}
        }
        let tmp = root.temp_name("t").unwrap();
        put(&tmp, new_dir);
        root.replace(&tmp, &name).unwrap();
        let got = if new_dir {
            std::fs::read_to_string(ws.join(&name).join("in")).unwrap()
        } else {
            std::fs::read_to_string(ws.join(&name)).unwrap()
        };
        assert_eq!(got, if new_dir { "tree" } else { "file" }, "{i}");
        assert!(!ws.join(&tmp).exists(), "{i}: the old content is gone");
    }
}

#[test]
fn the_journal_leads_a_sweep_to_a_dead_processs_temps_and_to_nothing_else() {
    let (_d, ws, _outside) = setup();
    let pid = std::process::id();
    {
        let root = RootDir::open(&ws)
            .unwrap()
            .with_journal(".pipe/tmp")
            .unwrap();
        let (dir, _) = root.parent("data/sub/out", true, "write").unwrap();
        let t = dir.temp_name("tree").unwrap();
        dir.mkdir_in(&t).unwrap();
        std::fs::write(ws.join("data/sub").join(&t).join("f"), "x").unwrap();
        let t2 = root.temp_name("f").unwrap();
        std::fs::write(ws.join(&t2), "yy").unwrap();
        // Not this process's, or not pipe's: kept.
        std::fs::write(ws.join("data/sub/.pipe-tmp-1-0-x"), "").unwrap();
        std::fs::write(ws.join("data/sub/notes"), "").unwrap();
        let journal =
            std::fs::read_to_string(ws.join(".pipe/tmp").join(journal_name(pid))).unwrap();
        assert_eq!(journal, "data/sub\n\n");
        // As the next process would, once this one is dead (a sweep holds its lease).
        let next = RootDir::open(&ws)
            .unwrap()
            .with_journal(".pipe/tmp")
            .unwrap();
        let swept = next.sweep_journal(pid);
        assert_eq!(swept.entries, 2);
    }
    let mut left: Vec<_> = std::fs::read_dir(ws.join("data/sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [".pipe-tmp-1-0-x", "notes"]);
    assert!(!ws.join(".pipe/tmp").join(journal_name(pid)).exists());
    // A process that leaves none of its temps removes its journal when it ends.
    {
        let root = RootDir::open(&ws)
            .unwrap()
            .with_journal(".pipe/tmp")
            .unwrap();
        root.write_atomic("data/w", b"w", false).unwrap();
        assert!(ws.join(".pipe/tmp").join(journal_name(pid)).exists());
    }
    assert!(!ws.join(".pipe/tmp").join(journal_name(pid)).exists());
}

/// The cost of opening a directory 3 deep: a plain `openat` (no confinement), `openat2`
/// beneath the root, and the walk one name at a time. Prints microseconds per call.
#[test]
fn write_new_writes_once_and_never_replaces_nor_leaves_out() {
    let (_d, ws, outside) = setup();
    symlink(&outside, ws.join("abs")).unwrap();
    for root in both(&ws) {
        let _ = std::fs::remove_file(ws.join("data/id"));
        assert!(root.write_new("data/id", b"first").unwrap());
        assert!(!root.write_new("data/id", b"second").unwrap());
        assert_eq!(
            std::fs::read_to_string(ws.join("data/id")).unwrap(),
            "first"
        );
        escapes(root.write_new("abs/id", b"x"), "abs/id", "abs");
        let names: Vec<_> = std::fs::read_dir(ws.join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["id"], "no temp is left");
    }
    outside_untouched(&outside);
}
