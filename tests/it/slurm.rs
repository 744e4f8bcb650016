//! The Slurm executor against a real one-node Slurm cluster (`scripts/setup-slurm.sh`
//! starts it; `scripts/test.sh` runs that first). Nothing is mocked: jobs go through
//! sbatch, slurmctld and slurmd. Without the cluster these tests fail, saying so.
//!
//! Each stage appends a line to a marker file outside its outs, so a test can count how
//! many times a stage really ran.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::support::{Project, Run, WAIT_FOR_GO};

/// Fails the test unless the one-node cluster answers and its node can take jobs.
#[track_caller]
fn require_cluster() {
    let out = Command::new("sinfo")
        .args(["-h", "-N", "-o", "%T"])
        .output();
    let state = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => panic!(
            "Slurm is not answering (sinfo: {}); run scripts/setup-slurm.sh",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("Slurm is not installed (sinfo: {e}); run scripts/setup-slurm.sh"),
    };
    assert!(
        // `completing`: up, and cleaning up after a job another test's run just ended.
        ["idle", "mixed", "allocated", "completing"]
            .iter()
            .any(|s| state.starts_with(s)),
        "the Slurm node is `{state}`, not up; run scripts/setup-slurm.sh"
    );
}

const CONFIG: &str = "[executor]\nkind = \"slurm\"\npoll = 1\n";

fn slurm_project(pipeline: &str) -> Project {
    require_cluster();
    Project::new()
        .file(".pipe/config.toml", CONFIG)
        .file("pipe.toml", pipeline)
}

/// Lines of `.pipe/slurm/submissions.log`: one per sbatch call.
fn submissions(p: &Project) -> Vec<String> {
    std::fs::read_to_string(p.path(".pipe/slurm/submissions.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Job ids recorded under `.pipe/slurm/jobs/` (jobs out whose end no pipe collected yet).
fn recorded_jobs(p: &Project) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(p.path(".pipe/slurm/jobs")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter_map(|v| v["job"].as_str().map(String::from))
        .collect()
}

/// Jobs of `ids` that squeue lists as queued or running.
fn active(ids: &[String]) -> Vec<String> {
    if ids.is_empty() {
        return Vec::new();
    }
    let bases: Vec<&str> = ids
        .iter()
        .map(|i| i.split('_').next().unwrap_or(i))
        .collect();
    let out = Command::new("squeue")
        .args([
            "-h",
            "-r",
            "-t",
            "PENDING,RUNNING,CONFIGURING,COMPLETING",
            "-o",
            "%i",
            "-j",
        ])
        .arg(bases.join(","))
        .output()
        .expect("squeue");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn lines(p: &Project, file: &str) -> usize {
    if !p.exists(file) {
        return 0;
    }
    p.read(file).lines().count()
}

const THREE: &str = r#"
[stage.a]
cmd = "echo $PIPE_STAGE > a.txt; echo ran >> a.count"
outs = ["a.txt"]

[stage.b]
cmd = ["cat a.txt > b.txt", "echo $PIPE_STAGE-$SLURM_JOB_ID >> b.txt; echo ran >> b.count"]
deps = ["a.txt"]
outs = ["b.txt"]
resources = { cpus = 1, mem = "64M", time = "5m" }

[stage.c]
cmd = "cat b.txt > c.txt; echo ran >> c.count"
deps = ["b.txt"]
outs = ["c.txt"]
"#;

#[test]
fn a_three_stage_pipeline_runs_as_slurm_jobs_and_is_committed() {
    let p = slurm_project(THREE);
    let r = p.pipe(&["repro"]).ok();
    assert_eq!(r.ran(), ["a", "b", "c"]);
    // Progress: each instance shows as queued (with the reason) or running (with the node).
    assert!(
        ["a", "b", "c"]
            .iter()
            .all(|s| r.stderr.contains(&format!("{s} (Slurm job "))),
        "{r}"
    );
    assert_eq!(p.read("a.txt"), "a\n");
    let b = p.read("b.txt");
    let job_line = b.lines().nth(1).expect("second line");
    assert!(
        job_line.starts_with("b-") && job_line.len() > 2,
        "b ran inside a Slurm job: {b:?}"
    );
    let subs = submissions(&p);
    assert_eq!(subs.len(), 3, "one sbatch per stage: {subs:#?}");
    let b_sub = subs
        .iter()
        .find(|l| l.contains("--job-name=pipe-") && l.ends_with("b.1.sh"))
        .expect("b's submission");
    for flag in [
        "--parsable",
        "--mem=64M",
        "--time=00:05:00",
        "--cpus-per-task=1",
        "--chdir=",
    ] {
        assert!(b_sub.contains(flag), "{flag} missing in {b_sub}");
    }
    // Committed like a local run: the next repro has nothing to do, nothing resubmitted.
    p.pipe(&["repro"]).ok().err_has("everything is up to date");
    assert_eq!(submissions(&p).len(), 3);
    for s in ["a", "b", "c"] {
        assert_eq!(lines(&p, &format!("{s}.count")), 1, "{s} ran once");
    }
    assert!(recorded_jobs(&p).is_empty(), "no job left to collect");
    // `--executor local` overrides the config.
    p.write(
        "pipe.toml",
        &THREE.replace("echo $PIPE_STAGE > a.txt", "echo A > a.txt"),
    );
    p.pipe(&["repro", "--executor", "local"]).ok();
    assert_eq!(submissions(&p).len(), 3, "nothing submitted");
    assert_eq!(
        p.read("c.txt"),
        "A\nb-\n",
        "b ran here, with no Slurm job id"
    );
}

#[test]
fn a_sweep_of_2x2_cells_with_2_seeds_is_one_job_array() {
    let p = slurm_project(
        r#"
[stage.prep]
cmd = "echo data > data.txt"
outs = ["data.txt"]

[stage.train]
cmd = "echo lr=${train.lr} width=${train.width} seed=${train.seed} task=$SLURM_ARRAY_TASK_ID > ${outs[0]}; echo ran >> train.count"
deps = ["data.txt"]
params = ["train"]
outs = ["model.txt"]
resources = { cpus = 1, gpus = 1 }

[sweep.grid]
stages = ["train"]
matrix = { "train.lr" = [0.1, 0.2], "train.width" = [8, 16] }
seeds = [0, 1]
"#,
    )
    .file("params.toml", "[train]\nlr = 0.1\nwidth = 8\nseed = 0\n");
    let r = p.pipe(&["sweep", "grid"]).ok();
    assert_eq!(r.ran().len(), 9, "prep and 8 train instances\n{r}");
    let subs = submissions(&p);
    let arrays: Vec<&String> = subs.iter().filter(|l| l.contains("--array=")).collect();
    assert_eq!(arrays.len(), 1, "one array: {subs:#?}");
    assert!(arrays[0].contains("--array=0-7%"), "{}", arrays[0]);
    assert!(arrays[0].contains("--gres=gpu:1"), "{}", arrays[0]);
    assert_eq!(subs.len(), 2, "prep alone, then the array: {subs:#?}");
    assert_eq!(lines(&p, "train.count"), 8);
    // Every cell's out was written by an array task and committed.
    let outs = p.path(".pipe/sweeps");
    let mut tasks = Vec::new();
    for f in walk(&p.root().join("sweeps"))
        .into_iter()
        .chain(walk(&outs))
    {
        if f.file_name().is_some_and(|n| n == "model.txt") {
            let t = std::fs::read_to_string(&f).expect("read");
            let task = t.trim().rsplit("task=").next().unwrap_or("").to_string();
            tasks.push(task);
        }
    }
    tasks.sort();
    assert_eq!(tasks, ["0", "1", "2", "3", "4", "5", "6", "7"], "{tasks:?}");
    // Unchanged cells: nothing is submitted again.
    p.pipe(&["sweep", "grid"]).ok();
    assert_eq!(submissions(&p).len(), 2);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return v;
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            v.extend(walk(&e.path()));
        } else {
            v.push(e.path());
        }
    }
    v
}

#[test]
fn a_failing_job_names_its_state_code_and_log() {
    let p = slurm_project(
        "[stage.bad]\ncmd = [\"echo first\", \"echo oops; exit 3\"]\nouts = [\"x.txt\"]\n",
    );
    let r = p.pipe(&["repro"]).code(1);
    r.err_has("FAILED")
        .err_has("command 2 exited with code 3")
        .err_has("Slurm job")
        .err_has(".pipe/logs/bad.log");
    let log = p.read(".pipe/logs/bad.log");
    assert!(log.contains("oops"), "{log}");
    assert!(!p.exists("pipe.lock") || !p.read("pipe.lock").contains("[bad]"));
}

#[test]
fn a_job_cancelled_from_outside_fails_its_stage_saying_so() {
    let p = slurm_project(
        "[stage.long]\ncmd = \"touch started; sleep 120; echo done > x.txt\"\nouts = [\"x.txt\"]\n",
    );
    let child = p.start_until(
        &["repro"],
        "the job to start",
        Duration::from_secs(120),
        || p.exists("started"),
    );
    let jobs = recorded_jobs(&p);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let s = Command::new("scancel")
        .arg(&jobs[0])
        .status()
        .expect("scancel");
    assert!(s.success());
    child
        .finish()
        .code(1)
        .err_has("CANCELLED from outside pipe")
        .err_has(&jobs[0]);
    assert!(!p.exists("x.txt"));
}

/// `pipe repro` in the background, once it has submitted the three jobs of `p`.
fn three_jobs_submitted(p: &Project) -> crate::support::Background {
    p.start_until(
        &["repro"],
        "three jobs submitted",
        Duration::from_secs(60),
        || recorded_jobs(p).len() == 3,
    )
}

#[test]
fn ctrl_c_cancels_every_job_of_the_run() {
    let p = slurm_project(
        r#"
[stage.one]
cmd = "touch one.started; sleep 120; echo > one.txt"
outs = ["one.txt"]

[stage.two]
cmd = "sleep 120; echo > two.txt"
outs = ["two.txt"]
resources = { cpus = 2 }

[stage.three]
cmd = "sleep 120; echo > three.txt"
outs = ["three.txt"]
resources = { cpus = 2 }
"#,
    );
    let child = three_jobs_submitted(&p);
    let jobs = recorded_jobs(&p);
    assert!(!active(&jobs).is_empty(), "jobs are in the queue");
    child.signal(Signal::INT);
    child.finish().code(130);
    assert_eq!(active(&jobs), Vec::<String>::new(), "jobs left in squeue");
    assert!(
        recorded_jobs(&p).is_empty(),
        "cancelled jobs are not adopted later"
    );
    assert!(!p.exists("pipe.lock") || !p.read("pipe.lock").contains("one.txt"));
}

#[test]
fn after_kill_9_the_next_repro_adopts_the_queued_jobs() {
    // Each stage takes both CPUs of the node: one runs, the others queue. Each waits for
    // `go` (up to a minute), which the test writes once pipe is dead.
    let stage = |n: &str| {
        format!(
            "[stage.{n}]\ncmd = \"{WAIT_FOR_GO}; echo {n} > {n}.txt; echo ran >> {n}.count\"\nouts = [\"{n}.txt\"]\nresources = {{ cpus = 2 }}\n\n"
        )
    };
    let p = slurm_project(&format!("{}{}{}", stage("x"), stage("y"), stage("z")));
    let child = three_jobs_submitted(&p);
    let jobs = recorded_jobs(&p);
    assert!(
        !active(&jobs).is_empty(),
        "jobs are queued or running when pipe dies"
    );
    child.signal(Signal::KILL);
    child.finish().code(128 + 9);
    let before = submissions(&p).len();
    assert_eq!(before, 3);
    p.write("go", "");
    let r = p.pipe(&["repro"]).ok();
    r.err_has("Adopting");
    assert_eq!(
        submissions(&p).len(),
        before,
        "nothing submitted again\n{r}"
    );
    for n in ["x", "y", "z"] {
        assert_eq!(
            lines(&p, &format!("{n}.count")),
            1,
            "{n} ran exactly once\n{r}"
        );
        assert_eq!(p.read(&format!("{n}.txt")), format!("{n}\n"));
    }
    p.pipe(&["repro"]).ok().err_has("everything is up to date");
}

#[test]
fn detach_submits_and_returns_then_repro_collects() {
    let p = slurm_project(&format!(
        "[stage.d]\ncmd = \"{WAIT_FOR_GO}; echo d > d.txt; echo ran >> d.count\"\nouts = [\"d.txt\"]\n\n[stage.e]\ncmd = \"cat d.txt > e.txt\"\ndeps = [\"d.txt\"]\nouts = [\"e.txt\"]\n"
    ));
    let t = Instant::now();
    let r = p.pipe(&["repro", "--detach"]).ok();
    r.err_has("Submitted").err_has("detached");
    // `d` cannot end before `go` exists (or a minute has passed): returning sooner shows
    // that --detach did not wait for it; 30 s is room for a loaded machine's sbatch.
    assert!(t.elapsed() < Duration::from_secs(30));
    assert_eq!(recorded_jobs(&p).len(), 1, "d is out, e waits for it");
    p.write("go", "");
    let r = p.pipe(&["repro"]).ok();
    r.err_has("Adopting");
    assert_eq!(lines(&p, "d.count"), 1, "d ran once\n{r}");
    assert_eq!(p.read("e.txt"), "d\n");
    assert_eq!(submissions(&p).len(), 2, "d, then e");
    p.pipe(&["repro"]).ok().err_has("everything is up to date");
}

#[test]
fn a_local_stage_runs_here_without_a_job() {
    let p = slurm_project(
        "[stage.small]\ncmd = \"echo job=$SLURM_JOB_ID > small.txt\"\nouts = [\"small.txt\"]\nlocal = true\n\n[stage.big]\ncmd = \"echo job=$SLURM_JOB_ID > big.txt\"\ndeps = [\"small.txt\"]\nouts = [\"big.txt\"]\n",
    );
    p.pipe(&["repro"]).ok();
    assert_eq!(
        p.read("small.txt"),
        "job=\n",
        "small ran here, outside any job"
    );
    assert_ne!(p.read("big.txt"), "job=\n");
    let subs = submissions(&p);
    assert_eq!(subs.len(), 1, "only big was submitted: {subs:#?}");
}

#[test]
fn without_sbatch_the_slurm_executor_is_one_clear_error() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"echo > s.txt\"\nouts = [\"s.txt\"]\n",
    );
    let empty = tempfile::tempdir().expect("tempdir");
    let r = Run::from(
        p.cmd(&["repro", "--executor", "slurm"])
            .env("PATH", empty.path())
            .output()
            .expect("run"),
    )
    .code(3);
    r.err_has("`sbatch`").err_has("not on PATH");
    assert_eq!(r.stderr.matches("error").count(), 1, "one error: {r}");
    assert!(!p.exists("s.txt"));
    // --detach without Slurm is a user error.
    p.pipe(&["repro", "--detach"])
        .code(2)
        .err_has("--detach needs the Slurm executor");
}

#[test]
fn cluster_keys_are_validated_with_their_place() {
    let p = Project::new().file(
        "pipe.toml",
        "[stage.s]\ncmd = \"true\"\nresources = { cpus = 1, walltime = \"4h\" }\n",
    );
    p.pipe(&["status"])
        .code(2)
        .err_has("unknown field `walltime`")
        .err_has("pipe.toml:3:");
    p.write(
        "pipe.toml",
        "[stage.s]\ncmd = \"true\"\nresources = { time = \"4 parsecs\" }\n",
    );
    p.pipe(&["status"])
        .code(2)
        .err_has("`resources.time`")
        .err_has("pipe.toml:3:22");
    p.write("pipe.toml", "[stage.s]\ncmd = \"true\"\nlocal = \"yes\"\n");
    p.pipe(&["status"])
        .code(2)
        .err_has("invalid type")
        .err_has("pipe.toml:3:");
    p.write("pipe.toml", "[stage.s]\ncmd = \"true\"\n");
    p.write(".pipe/config.toml", "[executor]\nkind = \"pbs\"\n");
    p.pipe(&["status"])
        .code(2)
        .err_has("`executor.kind` is `local` or `slurm`");
}
