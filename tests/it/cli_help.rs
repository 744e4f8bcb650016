//! The front door: every command's `--help` ends with an example, each shell's completion
//! script names every command, and `pipe man DIR` writes a page per command. The commands
//! are read from the help pages themselves (`Commands:`), so a new command is checked
//! without editing this file.

use crate::support::Project;

/// Every visible command as its path of names (`["exp", "run"]`), parents before children.
fn commands(p: &Project) -> Vec<Vec<String>> {
    fn walk(p: &Project, path: &[String], out: &mut Vec<Vec<String>>) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        for name in listed(&p.pipe(&args).ok().stdout) {
            let mut sub = path.to_vec();
            sub.push(name);
            out.push(sub.clone());
            walk(p, &sub, out);
        }
    }
    let mut out = Vec::new();
    walk(p, &[], &mut out);
    out
}

/// The names under `Commands:` in a help page, but `help` (a wrapped description's
/// continuation lines are indented deeper than the names).
fn listed(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(String::from)
        .collect()
}

#[test]
fn the_walk_finds_every_command() {
    let p = Project::new();
    let all = commands(&p);
    for want in [
        &["init"][..],
        &["import-dvc"],
        &["repro"],
        &["cache", "verify"],
        &["remote", "default"],
        &["exp", "run"],
        &["exp", "pull"],
        &["metrics", "diff"],
        &["plots", "show"],
        &["completions"],
        &["man"],
    ] {
        assert!(all.iter().any(|c| c == want), "{want:?} not in {all:?}");
    }
    assert!(all.len() >= 40, "{all:?}");
}

#[test]
fn every_commands_help_has_an_example() {
    let p = Project::new();
    let mut paths = vec![Vec::new()];
    paths.extend(commands(&p));
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let h = p.pipe(&args).ok();
        assert!(
            h.stdout.contains("\nExample:\n  pipe ") || h.stdout.contains("\nExamples:\n  pipe "),
            "`pipe {}` has no example\n{h}",
            path.join(" ")
        );
    }
    // The hidden merge driver too.
    p.pipe(&["merge-lock", "--help"]).ok().out_has("Example:");
}

#[test]
fn each_shells_completions_name_every_command() {
    let p = Project::new();
    let all = commands(&p);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = p.pipe(&["completions", shell]).ok();
        assert!(r.stdout.len() > 1000, "{shell}: {} bytes", r.stdout.len());
        for path in &all {
            let name = path.last().expect("a name");
            assert!(
                r.stdout.contains(name.as_str()),
                "{shell}'s completions lack `{}`",
                path.join(" ")
            );
        }
    }
    // The script is for the shell asked for, not one script for all.
    let bash = p.pipe(&["completions", "bash"]).ok().stdout;
    let fish = p.pipe(&["completions", "fish"]).ok().stdout;
    assert!(bash.contains("complete -F"), "{bash}");
    assert!(fish.contains("complete -c pipe"), "{fish}");
    p.pipe(&["completions", "tcsh"]).code(2).err_has("tcsh");
}

#[test]
fn man_writes_a_page_per_command() {
    let p = Project::new();
    let all = commands(&p);
    p.pipe(&["man", "share/man/man1"])
        .ok()
        .err_has(&format!("Wrote {} man pages", all.len() + 1));
    let page = |name: &str| {
        std::fs::read_to_string(p.path(&format!("share/man/man1/{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"))
    };
    let top = page("pipe");
    assert!(top.contains(".TH pipe 1") && top.contains("repro"), "{top}");
    for path in &all {
        let name = format!("pipe-{}", path.join("-"));
        let text = page(&name);
        assert!(text.contains(&format!(".TH {name} 1")), "{text}");
        assert!(text.contains("Example"), "{name}.1 has no example\n{text}");
    }
    assert!(
        !p.exists("share/man/man1/pipe-merge-lock.1"),
        "the hidden merge driver gets no page"
    );
}

#[test]
fn man_into_a_file_fails_and_says_where() {
    let p = Project::new().file("taken", "x");
    p.pipe(&["man", "taken"]).code(3).err_has("taken");
    assert_eq!(std::fs::read_to_string(p.path("taken")).expect("read"), "x");
}
