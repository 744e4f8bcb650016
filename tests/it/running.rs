//! Running stages: parallelism, resources, failures, interruption, retries.

use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::support::{Background, Project, Run, wait_until};

/// Reads `start end` pairs (seconds, as floats) that stages wrote.
fn interval(p: &Project, f: &str) -> (f64, f64) {
    let t = p.read(f);
    let mut it = t
        .split_whitespace()
        .map(|x| x.parse::<f64>().expect("time"));
    (it.next().expect("start"), it.next().expect("end"))
}

fn overlaps(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

const TIMED: &str = "s=$(date +%s.%N); sleep 0.6; e=$(date +%s.%N); echo $s $e > ${outs[0]}";

/// Like `TIMED`, but each stage waits (up to 30 s) until both have started, so that two
/// stages run at the same time overlap however slow the machine, and two run one after
/// the other do not.
const MEET: &str = "s=$(date +%s.%N); touch ${outs[0]}.started; for i in $(seq 600); do [ $(ls *.started | wc -l) -ge 2 ] && break; sleep 0.05; done; e=$(date +%s.%N); echo $s $e > ${outs[0]}";

#[test]
fn independent_stages_run_at_the_same_time() {
    let p = Project::new().file(
        "pipe.toml",
        &format!("[stage.a]\ncmd = \"{MEET}\"\nouts = [\"a.t\"]\n\n[stage.b]\ncmd = \"{MEET}\"\nouts = [\"b.t\"]\n"),
    );
    p.pipe(&["repro", "-j", "2", "--cpus", "2"]).ok();
    // The stages' own clocks: both were sleeping at the same time.
    assert!(
        overlaps(interval(&p, "a.t"), interval(&p, "b.t")),
        "a and b should overlap"
    );
}

#[test]
fn jobs_and_cpus_limit_what_runs_at_once() {
    let spec = format!(
        "[stage.a]\ncmd = \"{TIMED}\"\nouts = [\"a.t\"]\nresources = {{ cpus = 2 }}\n\n[stage.b]\ncmd = \"{TIMED}\"\nouts = [\"b.t\"]\nresources = {{ cpus = 2 }}\n"
    );
    let p = Project::new().file("pipe.toml", &spec);
    p.pipe(&["repro", "-j", "4", "--cpus", "2"]).ok();
    assert!(
        !overlaps(interval(&p, "a.t"), interval(&p, "b.t")),
        "two 2-cpu stages on 2 cpus overlap"
    );
    let q = Project::new().file("pipe.toml", &spec.replace("cpus = 2", "cpus = 1"));
    q.pipe(&["repro", "-j", "1", "--cpus", "4"]).ok();
    assert!(
        !overlaps(interval(&q, "a.t"), interval(&q, "b.t")),
        "-j 1 runs one at a time"
    );
}

#[test]
fn gpu_stages_get_distinct_devices() {
    let mut spec = String::new();
    for s in ["a", "b", "c"] {
        spec.push_str(&format!(
            "[stage.{s}]\ncmd = \"s=$(date +%s.%N); sleep 0.5; e=$(date +%s.%N); echo $s $e $CUDA_VISIBLE_DEVICES > {s}.t\"\nouts = [\"{s}.t\"]\nresources = {{ gpus = 1 }}\n\n"
        ));
    }
    let p = Project::new().file("pipe.toml", &spec);
    p.pipe(&["repro", "--gpus", "2", "--cpus", "8"]).ok();
    let read = |s: &str| {
        let t = p.read(&format!("{s}.t"));
        let v: Vec<String> = t.split_whitespace().map(String::from).collect();
        (
            (v[0].parse::<f64>().unwrap(), v[1].parse::<f64>().unwrap()),
            v[2].clone(),
        )
    };
    let all = [read("a"), read("b"), read("c")];
    for (i, x) in all.iter().enumerate() {
        assert!(x.1 == "0" || x.1 == "1", "device {}", x.1);
        for y in &all[i + 1..] {
            if overlaps(x.0, y.0) {
                assert_ne!(x.1, y.1, "two stages at once on one GPU");
            }
        }
    }
    // At any stage's start, at most two stages are running.
    for x in &all {
        let at = x.0.0 + 1e-6;
        let running = all.iter().filter(|y| y.0.0 <= at && at < y.0.1).count();
        assert!(running <= 2, "three 1-GPU stages ran at once on 2 GPUs");
    }
    // More GPUs than exist is refused before anything runs.
    let q = Project::new().file(
        "pipe.toml",
        "[stage.a]\ncmd = \"true\"\nresources = { gpus = 4 }\n",
    );
    q.pipe(&["repro", "--gpus", "2"])
        .code(2)
        .err_has("stage `a` asks for 4 GPUs, but this machine has 2");
    // A count no machine has is a typo: refused, not a hundred million device slots
    // (which took memory and minutes before anything ran).
    q.pipe(&["repro", "--gpus", "99999999"])
        .code(2)
        .err_has("invalid value '99999999' for '--gpus <GPUS>': 99999999 is not in 0..=1024");
    assert!(!q.exists("pipe.lock"));
}

#[test]
fn a_gpu_listed_twice_holds_two_stages_at_once() {
    // Small cells share one GPU when CUDA_VISIBLE_DEVICES names it once per slot: each
    // stage waits (up to 10 s) for the other to start, so run one at a time they would
    // each count only themselves.
    let mut spec = String::new();
    for s in ["a", "b"] {
        spec.push_str(&format!(
            "[stage.{s}]\ncmd = \"touch started.{s}; for i in $(seq 200); do [ -e started.a ] && [ -e started.b ] && break; sleep 0.05; done; echo $(ls started.* | wc -l) $CUDA_VISIBLE_DEVICES > {s}.t\"\nouts = [\"{s}.t\"]\nresources = {{ gpus = 1 }}\n\n"
        ));
    }
    let run = |visible: &str| {
        let p = Project::new().file("pipe.toml", &spec);
        let out = p
            .cmd(&["repro", "--cpus", "4"])
            .env("CUDA_VISIBLE_DEVICES", visible)
            .output()
            .expect("run pipe");
        Run::from(out).ok();
        [p.read("a.t"), p.read("b.t")]
    };
    for t in run("0,0") {
        assert_eq!(t.trim(), "2 0", "both stages at once, each on device 0");
    }
    let once = run("0");
    assert!(
        once.iter().any(|t| t.trim() == "1 0"),
        "one slot: the stages ran one at a time ({once:?})"
    );
}

#[test]
fn a_failing_stage_leaves_outs_lock_and_cache_as_they_were() {
    let p = Project::new()
        .file("v.txt", "1")
        .file(
            "pipe.toml",
            "[stage.s]\ncmd = \"cp v.txt out.txt && mkdir -p d && cp v.txt d/f\"\ndeps = [\"v.txt\"]\nouts = [\"out.txt\", \"d\"]\n\n[stage.after]\ncmd = \"cat out.txt > after.txt\"\ndeps = [\"out.txt\"]\nouts = [\"after.txt\"]\n",
        );
    p.pipe(&["repro"]).ok();
    let lock = p.read("pipe.lock");
    let objects = p.cache_objects();
    p.write("v.txt", "2");
    let spec = p.read("pipe.toml").replace(
        "cp v.txt out.txt && mkdir -p d && cp v.txt d/f",
        "echo partial > out.txt; mkdir -p d; echo partial > d/f; echo boom >&2; exit 3",
    );
    p.write("pipe.toml", &spec);
    // pipe exits with the failed stage's own code.
    let r = p.pipe(&["repro"]).code(3);
    r.err_has("stage `s` exited with code 3")
        .err_has(".pipe/logs/s.log");
    r.err_has("Skipped after: upstream stage s failed")
        .out_has("[s] boom");
    assert_eq!(p.read("out.txt"), "1", "the old out is back");
    assert_eq!(p.read("d/f"), "1");
    assert_eq!(p.read("pipe.lock"), lock);
    assert_eq!(p.cache_objects(), objects);
    assert!(p.read(".pipe/logs/s.log").contains("boom"));
}

#[test]
fn pipes_exit_status_is_the_failed_stages_own() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.code]\ncmd = \"exit 42\"\n\n[stage.signal]\ncmd = \"kill -TERM $$\"\n\n[stage.contract]\ncmd = \"true\"\nouts = [\"never.txt\"]\n",
    );
    p.pipe(&["repro", "code"])
        .code(42)
        .err_has("stage `code` exited with code 42");
    // Killed by SIGTERM (15): 128 + 15, as a shell says it.
    p.pipe(&["repro", "signal"])
        .code(143)
        .err_has("stage `signal` was killed by signal 15");
    // A broken contract is no exit code of the stage's: 1.
    p.pipe(&["repro", "contract"])
        .code(1)
        .err_has("did not produce its declared out");
    // Several failures: 1, and the first is named.
    p.pipe(&["repro", "--keep-going", "-j", "1", "code", "signal"])
        .code(1)
        .err_has("2 stages failed");
}

#[test]
fn keep_going_runs_independent_stages() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.bad]\ncmd = \"exit 1\"\n\n[stage.good]\ncmd = \"sleep 0.3; echo ok > good.txt\"\nouts = [\"good.txt\"]\n",
    );
    p.pipe(&["repro", "-j", "1", "--keep-going"]).code(1);
    assert!(p.exists("good.txt"));
}

#[test]
fn a_missing_declared_out_fails_the_stage() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"true\"\nouts = [\"never.txt\"]\n",
    );
    p.pipe(&["repro"])
        .code(1)
        .err_has("stage `s` did not produce its declared out `never.txt`");
    assert!(!p.exists("pipe.lock"));
}

#[test]
fn retries_rerun_a_flaky_stage_with_the_attempt_number() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"echo $PIPE_ATTEMPT >> attempts.log; test $PIPE_ATTEMPT -ge 3 && echo done > out.txt\"\nouts = [\"out.txt\"]\nretries = 2\n",
    );
    p.pipe(&["repro"])
        .ok()
        .err_has("Retrying s (attempt 2 of 3)");
    assert_eq!(p.read("attempts.log"), "1\n2\n3\n");
}

#[test]
fn ctrl_c_stops_the_children_and_commits_nothing() {
    let p = Project::new().file("v.txt", "1").file(
        "pipe.toml",
        "[stage.s]\ncmd = \"cp v.txt out.txt\"\ndeps = [\"v.txt\"]\nouts = [\"out.txt\"]\n",
    );
    p.pipe(&["repro"]).ok();
    let lock = p.read("pipe.lock");
    p.write("v.txt", "2");
    let spec = p.read("pipe.toml").replace(
        "cp v.txt out.txt",
        "echo $$ > pid.txt; echo half > out.txt; sleep 30; cp v.txt out.txt",
    );
    p.write("pipe.toml", &spec);
    let child = p
        .cmd(&["repro"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The stage has written its half out and sleeps.
    let stage_pid: i32 = p.wait_for_line("pid.txt").trim().parse().expect("pid");
    wait_until(
        "the stage to reach its sleep",
        Duration::from_secs(60),
        || sleeping_in_group(stage_pid),
    );
    kill_process(Pid::from_child(&child), Signal::INT).expect("send SIGINT");
    let t = Instant::now();
    let out = child.wait_with_output().expect("wait");
    // The stage would sleep 30 s: stopping well before that shows pipe ended it rather
    // than waited for it. It takes under a second here; 20 s leaves room for a loaded
    // machine without coming near the 30 s of a stage that was waited for.
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "pipe took {:?} to stop",
        t.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        live_in_group(stage_pid).is_empty(),
        "the stage's process group is still alive"
    );
    assert_eq!(p.read("out.txt"), "1", "the old out is back");
    assert_eq!(p.read("pipe.lock"), lock);
    // The next run resumes: the stage is still stale and runs.
    let spec = p.read("pipe.toml").replace("sleep 30; ", "");
    p.write("pipe.toml", &spec);
    assert_eq!(p.pipe(&["repro"]).ok().ran(), ["s"]);
    assert_eq!(p.read("out.txt"), "2");
}

#[test]
fn stage_environment() {
    let p = Project::new().file("params.toml", "[t]\nlr = 0.5\n").file(
        "pipe.toml",
        "[stage.s]\ncmd = \"echo $PIPE_STAGE $PIPE_ATTEMPT $PIPE_CPUS > env.txt; cat $PIPE_PARAMS > params.json\"\nparams = [\"t\"]\nouts = [\"env.txt\", \"params.json\"]\nresources = { cpus = 2 }\n",
    );
    p.pipe(&["repro", "--cpus", "2"]).ok();
    assert_eq!(p.read("env.txt"), "s 1 2\n");
    let v: serde_json::Value = serde_json::from_str(&p.read("params.json")).expect("json");
    assert_eq!(v["t"]["lr"], 0.5);
}

/// A null param (YAML `~`, as DVC projects have them) reaches a script as JSON's null, in a
/// list too, not as the placeholder pipe keeps it under in TOML's tables.
#[test]
fn a_null_param_reaches_pipe_params_as_json_null() {
    let p = Project::new()
        .file("params.yaml", "t:\n  ckpt: ~\n  sizes: [1, null]\n")
        .file(
            "pipe.toml",
            "[stage.s]\ncmd = \"cat $PIPE_PARAMS > ${outs[0]}\"\nparams = [\"t\"]\nouts = [\"params.json\"]\n",
        );
    p.pipe(&["repro"]).ok();
    let v: serde_json::Value = serde_json::from_str(&p.read("params.json")).expect("json");
    assert_eq!(
        v["t"],
        serde_json::json!({ "ckpt": null, "sizes": [1, null] })
    );
}

/// A byte order mark (Windows editors write one) before a pipeline file or a params file of
/// any format is not part of its text.
#[test]
fn a_byte_order_mark_is_not_part_of_a_file() {
    let p = Project::new()
        .file("params.py", "\u{feff}LR = 0.5\n")
        .file("params.yaml", "\u{feff}a: 1\n")
        .file("p.json", "\u{feff}{\"b\": 2}\n")
        .file("p.toml", "\u{feff}c = 3\n")
        .file(
            "pipe.toml",
            "\u{feff}[pipeline]\nparams = [\"params.py\", \"params.yaml\", \"p.json\", \"p.toml\"]\n\n[stage.s]\ncmd = \"echo ${LR} ${a} ${b} ${c} > ${outs[0]}\"\nparams = [\"LR\", \"a\", \"b\", \"c\"]\nouts = [\"o\"]\n",
        );
    p.pipe(&["repro"]).ok();
    assert_eq!(p.read("o"), "0.5 1 2 3\n");
}

#[test]
fn with_hardlinks_configured_outs_are_read_only_links_into_the_cache() {
    use std::os::unix::fs::MetadataExt;
    let p = Project::new()
        .file(
            ".pipe/config.toml",
            "[cache]\nlink = [\"hardlink\", \"copy\"]\n",
        )
        .file(
            "pipe.toml",
            "[stage.s]\ncmd = \"echo data > out.txt\"\nouts = [\"out.txt\"]\n",
        );
    p.pipe(&["repro"]).ok();
    let m = std::fs::metadata(p.path("out.txt")).expect("stat");
    assert_eq!(m.mode() & 0o222, 0, "read-only");
    assert_eq!(m.nlink(), 2, "linked into the cache");
}

/// Processes of group `pgid` that are still running (zombies waiting for a parent to reap
/// them do not count: they run nothing).
fn live_in_group(pgid: i32) -> Vec<i32> {
    let mut live = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string() {
            live.push(pid);
        }
    }
    live
}

/// Whether a `sleep` runs in process group `pgid` (a stage's shell got to its `sleep`).
fn sleeping_in_group(pgid: i32) -> bool {
    live_in_group(pgid).into_iter().any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    })
}

/// Defect 6: `kill -9` of pipe must take the stage's whole process group with it (the
/// shell and the `sleep` it started), so nothing goes on writing into the workspace.
#[test]
fn kill_9_of_pipe_ends_its_running_stages() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"echo $$ > pgid.txt; sleep 30; echo late > late.txt\"\nouts = [\"late.txt\"]\n",
    );
    // pipe logs (at debug level) that it handed the stage's process group to its watcher:
    // from then on the watcher ends the group when pipe dies.
    let mut repro = p.cmd(&["repro"]);
    repro.env("PIPE_LOG", "pipe::exec::reaper=debug");
    let child = Background::spawn(repro);
    let pgid: i32 = p.wait_for_line("pgid.txt").trim().parse().expect("pgid");
    child.wait_for_err(
        "pipe to hand the stage to its watcher",
        "watching a stage's process group",
    );
    assert!(!live_in_group(pgid).is_empty(), "the stage is not running");
    child.signal(Signal::KILL);
    child.finish();
    // A failure bound only: the watcher ends the group at once (SIGTERM, then SIGKILL
    // after 3 s), and the loop stops as soon as the group is gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut live = live_in_group(pgid);
    while !live.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        live = live_in_group(pgid);
    }
    // Don't leave them behind for the next test, whatever happened.
    if let Some(g) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(g, Signal::KILL);
    }
    assert!(
        live.is_empty(),
        "processes {live:?} of the stage outlived the killed pipe"
    );
    assert!(!p.exists("late.txt"));
}
