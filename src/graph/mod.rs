//! The DAG of stage instances.
//!
//! `Graph::build` instantiates every stage of the base pipeline and of every sweep cell,
//! then links producers to consumers: stage B depends on stage A when one of B's deps is
//! one of A's outs, lies inside one (a file of a directory out), or contains one. Built
//! (sealed) only when the outs don't collide, every dep exists or is made by a stage, and
//! there is no cycle; each failure is a `SpecError` pointing into the pipeline file. What
//! a built graph refuses (a target no stage is, an experiment) is a [`GraphError`].

pub mod error;
pub mod exp;
mod idx;
pub mod instance;
pub mod owner;
pub mod render;
pub mod stage;
pub mod sweep;

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};

pub use idx::StageIdx;
pub use stage::{Out, Stage, StageId, StageKind};

use crate::spec::limits::MOST_STAGES;
use crate::spec::{OutRole, Spec, SpecError, View};
use crate::wspath::WsPath;
pub use error::GraphError;
use instance::{Instance, NoRemap};
use sweep::SweepPlan;

/// Out path -> (stage, out index).
type Producers = BTreeMap<WsPath, (StageIdx, usize)>;

#[derive(Debug)]
pub struct Graph {
    stages: Vec<Stage>,
    index: HashMap<StageId, StageIdx>,
    dag: DiGraph<StageIdx, ()>,
    /// Every stage in an order where producers come before consumers.
    topo: Vec<StageIdx>,
    /// Position of each stage in `topo`, by stage.
    rank: Vec<usize>,
    producers: Producers,
    pub sweeps: Vec<SweepPlan>,
}

impl Graph {
    pub fn build(spec: &Spec) -> Result<Graph, SpecError> {
        let none = BTreeMap::new();
        let view = View {
            params: &spec.params,
            overrides: &none,
        };
        let written = spec.stages.len() + spec.data.len();
        if written > MOST_STAGES {
            let span = spec
                .stages
                .get(MOST_STAGES)
                .map_or(0..0, |d| d.span.clone());
            return Err(spec.file.error(
                span,
                format!("the pipeline holds {written} stages and tracked data; it holds at most {MOST_STAGES} (this is the first past it)"),
            ));
        }
        let mut stages = Vec::with_capacity(spec.stages.len());
        for (i, def) in spec.stages.iter().enumerate() {
            let inst = Instance {
                spec,
                def_index: i,
                view,
                id: StageId::new(&def.name, None),
            };
            stages.push(inst.build(&NoRemap)?);
        }
        let (cells, sweeps) = sweep::expand(spec, &stages)?;
        stages.extend(cells);
        stages.extend(spec.data.iter().enumerate().map(|(i, d)| data_stage(i, d)));
        sweep::check_report_files(spec, &stages)?;
        Graph::link(spec, stages, sweeps)
    }

    /// This graph with `extra` stage instances (an experiment's) linked in.
    pub fn with_extra(self, spec: &Spec, extra: Vec<Stage>) -> Result<Graph, SpecError> {
        let mut stages = self.stages;
        stages.extend(extra);
        Graph::link(spec, stages, self.sweeps)
    }

    /// Seals `stages` into a graph: ids unique, outs neither repeated nor nested, edges
    /// from producers to consumers (every dep made or present), no cycle.
    fn link(spec: &Spec, stages: Vec<Stage>, sweeps: Vec<SweepPlan>) -> Result<Graph, SpecError> {
        let index = index_ids(spec, &stages)?;
        let producers = producers(spec, &stages)?;
        check_nested_outs(spec, &stages, &producers)?;
        let dag = edges(spec, &stages, &producers)?;
        let topo = order(spec, &stages, &dag)?;
        let mut rank = vec![0; stages.len()];
        for (pos, &i) in topo.iter().enumerate() {
            rank[i.get()] = pos;
        }
        Ok(Graph {
            stages,
            index,
            dag,
            topo,
            rank,
            producers,
            sweeps,
        })
    }

    pub fn find(&self, id: &str) -> Option<StageIdx> {
        self.index.get(&StageId::from_lock(id)).copied()
    }

    /// Every stage, in definition order (base stages, sweep cells, tracked data,
    /// experiment instances); [`Graph::iter`] pairs each with its index.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Every stage with its index, in definition order.
    pub fn iter(&self) -> impl Iterator<Item = (StageIdx, &Stage)> {
        self.stages
            .iter()
            .enumerate()
            .map(|(i, s)| (StageIdx::new(i), s))
    }

    /// Every stage's index, in definition order.
    pub fn indices(&self) -> impl Iterator<Item = StageIdx> + use<> {
        (0..self.stages.len()).map(StageIdx::new)
    }

    pub fn len(&self) -> usize {
        self.stages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Direct upstream stages of `i`.
    pub fn upstream(&self, i: StageIdx) -> Vec<StageIdx> {
        self.neighbours(i, petgraph::Direction::Incoming)
    }

    /// Direct downstream stages of `i`.
    pub fn downstream(&self, i: StageIdx) -> Vec<StageIdx> {
        self.neighbours(i, petgraph::Direction::Outgoing)
    }

    fn neighbours(&self, i: StageIdx, dir: petgraph::Direction) -> Vec<StageIdx> {
        let mut v: Vec<StageIdx> = self
            .dag
            .neighbors_directed(NodeIndex::new(i.get()), dir)
            .map(|n| StageIdx::new(n.index()))
            .collect();
        v.sort_unstable();
        v
    }

    /// `seeds` and everything they depend on (or, `down`, everything depending on them),
    /// in dependency order.
    pub fn closure(&self, seeds: &[StageIdx], down: bool) -> Vec<StageIdx> {
        let mut seen = vec![false; self.stages.len()];
        let mut stack: Vec<StageIdx> = seeds.to_vec();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i.get()], true) {
                continue;
            }
            stack.extend(if down {
                self.downstream(i)
            } else {
                self.upstream(i)
            });
        }
        self.in_order(self.indices().filter(|&i| seen[i.get()]))
    }

    /// Sorts stage indices into dependency order.
    pub fn in_order(&self, set: impl IntoIterator<Item = StageIdx>) -> Vec<StageIdx> {
        let mut v: Vec<StageIdx> = set.into_iter().collect();
        v.sort_unstable_by_key(|&i| self.rank[i.get()]);
        v.dedup();
        v
    }

    /// Every stage in dependency order.
    pub fn topo(&self) -> &[StageIdx] {
        &self.topo
    }

    /// Base-pipeline stages (not sweep cells), in dependency order.
    pub fn base_stages(&self) -> Vec<StageIdx> {
        self.in_order(
            self.iter()
                .filter(|(_, s)| s.cell.is_none())
                .map(|(i, _)| i),
        )
    }

    /// The stage writing `path` (or the out containing it).
    pub fn producer_of(&self, path: &WsPath) -> Option<StageIdx> {
        producers_of(&self.producers, path)
            .into_iter()
            .map(|(s, _)| s)
            .find(|&s| self[s].outs.iter().any(|o| path.is_within(&o.path)))
    }

    /// Every out that equals `path`, contains it, or lies inside it.
    pub fn outs_overlapping(&self, path: &WsPath) -> impl Iterator<Item = &WsPath> {
        producers_of(&self.producers, path)
            .into_iter()
            .map(|(s, o)| &self[s].outs[o].path)
    }

    /// Resolves command-line targets: stage ids, base stage names, or out paths.
    pub fn resolve_targets(&self, targets: &[String]) -> Result<Vec<StageIdx>, GraphError> {
        let mut out = Vec::new();
        for t in targets {
            if let Some(i) = self.find(t) {
                out.push(i);
                continue;
            }
            if let Ok(p) = WsPath::parse(t.trim_end_matches('/'))
                && let Some(i) = self.producer_of(&p)
            {
                out.push(i);
                continue;
            }
            return Err(GraphError::UnknownTarget {
                target: t.clone(),
                near: self.nearest(t).map(str::to_string),
            });
        }
        Ok(out)
    }

    fn nearest(&self, t: &str) -> Option<&str> {
        self.stages
            .iter()
            .filter(|s| s.cell.is_none())
            .map(|s| s.id.as_str())
            .find(|id| id.starts_with(t) || t.starts_with(id) || id.contains(t))
    }
}

impl std::ops::Index<StageIdx> for Graph {
    type Output = Stage;

    fn index(&self, i: StageIdx) -> &Stage {
        &self.stages[i.get()]
    }
}

/// Stage id -> index; an id defined twice is an error.
fn index_ids(spec: &Spec, stages: &[Stage]) -> Result<HashMap<StageId, StageIdx>, SpecError> {
    let mut index = HashMap::with_capacity(stages.len());
    for (i, s) in stages.iter().enumerate() {
        if index.insert(s.id.clone(), StageIdx::new(i)).is_some() {
            return Err(spec
                .file
                .error(s.span.clone(), format!("stage `{}` is defined twice", s.id)));
        }
    }
    Ok(index)
}

/// Out path -> (stage, out index); an out written twice (by one stage or two) is an error.
fn producers(spec: &Spec, stages: &[Stage]) -> Result<Producers, SpecError> {
    let mut producers: Producers = BTreeMap::new();
    for (si, s) in stages.iter().enumerate() {
        let si = StageIdx::new(si);
        for (oi, o) in s.outs.iter().enumerate() {
            if let Some(&(pj, po)) = producers.get(&o.path) {
                let other = &stages[pj.get()];
                let what = if pj == si {
                    format!("stage `{}` declares out `{}` twice", s.id, o.path)
                } else {
                    format!(
                        "stages `{}` and `{}` both write `{}`",
                        other.id, s.id, o.path
                    )
                };
                return Err(spec.file.error(o.span.clone(), what).at(
                    &spec.file,
                    other.outs[po].span.clone(),
                    "also written here",
                ));
            }
            producers.insert(o.path.clone(), (si, oi));
        }
    }
    Ok(producers)
}

/// No out lies inside another, except a stage's metric or plot inside its own out.
fn check_nested_outs(
    spec: &Spec,
    stages: &[Stage],
    producers: &Producers,
) -> Result<(), SpecError> {
    for (path, &(si, oi)) in producers {
        for anc in path.ancestors() {
            let Ok(anc) = WsPath::parse(anc) else {
                continue;
            };
            if let Some(&(pj, po)) = producers.get(&anc) {
                let (s, o) = (&stages[si.get()], &stages[si.get()].outs[oi]);
                // A stage's metric or plot may be a file of one of its own directory outs
                // (as DVC's top-level metrics inside a stage's out are).
                if pj == si && o.role != OutRole::Out {
                    continue;
                }
                let other = &stages[pj.get()];
                return Err(spec
                    .file
                    .error(
                        o.span.clone(),
                        format!(
                            "out `{}` of stage `{}` lies inside out `{}` of stage `{}`",
                            o.path, s.id, anc, other.id
                        ),
                    )
                    .at(&spec.file, other.outs[po].span.clone(), "the enclosing out"));
            }
        }
    }
    Ok(())
}

/// Edges from producers to consumers: a dep no stage makes must exist, and no stage reads
/// its own out.
fn edges(
    spec: &Spec,
    stages: &[Stage],
    producers: &Producers,
) -> Result<DiGraph<StageIdx, ()>, SpecError> {
    let mut dag = DiGraph::<StageIdx, ()>::with_capacity(stages.len(), stages.len());
    for i in 0..stages.len() {
        dag.add_node(StageIdx::new(i));
    }
    for (si, s) in stages.iter().enumerate() {
        let si = StageIdx::new(si);
        let mut ups: Vec<StageIdx> = Vec::new();
        for (di, d) in s.deps.iter().enumerate() {
            let found = producers_of(producers, d);
            // A dep no stage makes is read as it is: when it is missing (a fresh clone
            // before its data is pulled, a file not yet written) the stage is stale and
            // unrunnable, and says why; the pipeline still loads, as DVC's does.
            if found.is_empty() {
                continue;
            }
            for (pj, po) in found {
                if pj == si {
                    return Err(spec
                        .file
                        .error(
                            s.dep_spans[di].clone(),
                            format!(
                                "stage `{}` depends on its own out `{}`",
                                s.id, s.outs[po].path
                            ),
                        )
                        .at(&spec.file, s.outs[po].span.clone(), "the out"));
                }
                ups.push(pj);
            }
        }
        ups.sort_unstable();
        ups.dedup();
        for u in ups {
            dag.add_edge(NodeIndex::new(u.get()), NodeIndex::new(si.get()), ());
        }
    }
    Ok(dag)
}

/// The stages in dependency order ([`stable_topo`]); a cycle is an error naming it.
fn order(
    spec: &Spec,
    stages: &[Stage],
    dag: &DiGraph<StageIdx, ()>,
) -> Result<Vec<StageIdx>, SpecError> {
    if petgraph::algo::toposort(dag, None).is_ok() {
        return Ok(stable_topo(dag));
    }
    let cycle = find_cycle(dag);
    let names: Vec<String> = cycle
        .iter()
        .map(|&i| stages[i.get()].id.to_string())
        .collect();
    let Some(first) = cycle.first().map(|i| &stages[i.get()]) else {
        return Ok(stable_topo(dag));
    };
    Err(spec
        .file
        .error(
            first.span.clone(),
            format!("the stages form a cycle: {}", names.join(" -> ")),
        )
        .help("a stage cannot depend, directly or through others, on what it writes"))
}

/// Tracked data as a stage that is never run: one cached out, frozen for `repro`.
fn data_stage(i: usize, d: &crate::spec::DataDef) -> Stage {
    Stage {
        id: StageId::from_lock(&crate::spec::DataDef::lock_id(&d.path)),
        def: i,
        cell: None,
        desc: d.desc.clone(),
        kind: StageKind::Data,
        wdir: WsPath::root(),
        deps: Vec::new(),
        dep_spans: Vec::new(),
        outs: vec![Out {
            path: d.path.clone(),
            role: crate::spec::OutRole::Out,
            cache: true,
            persist: false,
            span: d.span.clone(),
        }],
        placement: Default::default(),
        params: BTreeMap::new(),
        param_tables: toml::Table::new(),
        resources: crate::spec::Resources {
            cpus: 1,
            gpus: 0,
            mem: 0,
        },
        frozen: true,
        always_changed: false,
        retries: 0,
        env: Vec::new(),
        span: d.span.clone(),
    }
}

/// Producers whose out equals, contains, or lies inside `path`.
fn producers_of(producers: &Producers, path: &WsPath) -> Vec<(StageIdx, usize)> {
    let mut found = Vec::new();
    if path.is_root() {
        return producers.values().copied().collect();
    }
    if let Some(&p) = producers.get(path) {
        found.push(p);
    }
    for anc in path.ancestors() {
        if let Ok(a) = WsPath::parse(anc)
            && let Some(&p) = producers.get(&a)
        {
            found.push(p);
        }
    }
    // Outs inside `path`: keys in [path/, path0) ('0' follows '/').
    let lo = WsPath::range_bound(format!("{path}/"));
    let hi = WsPath::range_bound(format!("{path}0"));
    for (_, &p) in producers.range(lo..hi) {
        found.push(p);
    }
    found
}

/// Dependency order that otherwise keeps definition order (base stages as written, then
/// sweep cells as expanded): Kahn's algorithm taking the lowest ready index first.
fn stable_topo(dag: &DiGraph<StageIdx, ()>) -> Vec<StageIdx> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = dag.node_count();
    let mut indeg: Vec<usize> = (0..n)
        .map(|i| {
            dag.neighbors_directed(NodeIndex::new(i), petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indeg[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(StageIdx::new(i));
        for d in dag.neighbors_directed(NodeIndex::new(i), petgraph::Direction::Outgoing) {
            let d = d.index();
            indeg[d] -= 1;
            if indeg[d] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    order
}

/// One cycle of a cyclic graph, as stage indices in order (the first repeated last
/// implicitly).
fn find_cycle(dag: &DiGraph<StageIdx, ()>) -> Vec<StageIdx> {
    for scc in petgraph::algo::tarjan_scc(dag) {
        let self_loop = scc.len() == 1 && dag.find_edge(scc[0], scc[0]).is_some();
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
        // Walk inside the component until a node repeats.
        let mut path = vec![scc[0]];
        let mut pos: HashMap<NodeIndex, usize> = HashMap::from([(scc[0], 0)]);
        loop {
            let cur = *path.last().unwrap_or(&scc[0]);
            let Some(next) = dag
                .neighbors(cur)
                .filter(|n| members.contains(n))
                .min_by_key(|n| n.index())
            else {
                break;
            };
            if let Some(&start) = pos.get(&next) {
                // Start the cycle at the stage defined first, so the message is stable.
                let mut cycle: Vec<StageIdx> = path[start..].iter().map(|n| dag[*n]).collect();
                if let Some(first) = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| **s)
                    .map(|(k, _)| k)
                {
                    cycle.rotate_left(first);
                }
                return cycle;
            }
            pos.insert(next, path.len());
            path.push(next);
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads a pipeline from text in a temp dir (with `files` created there).
    fn graph(spec: &str, files: &[&str]) -> Result<Graph, SpecError> {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        std::fs::write(
            d.path().join("params.toml"),
            "[m]\ng = 1\nlr = 1e-5\nbig = 1e16\non = true\nn = 3\n",
        )
        .unwrap();
        std::fs::write(d.path().join("pipe.toml"), spec).unwrap();
        let s = crate::spec::load(&d.path().join("pipe.toml"))?;
        Graph::build(&s)
    }

    /// `a -> b, c` style edges: every stage with the stages it reads from.
    fn edges(g: &Graph) -> Vec<String> {
        g.topo()
            .iter()
            .map(|&i| {
                let ups: Vec<&str> = g.upstream(i).iter().map(|&u| g[u].id.as_str()).collect();
                format!("{} <- [{}]", g[i].id, ups.join(", "))
            })
            .collect()
    }

    #[test]
    fn deps_link_to_outs_they_equal_contain_or_lie_in() {
        let g = graph(
            r#"
[stage.raw]
cmd = "x"
outs = ["data/raw"]
[stage.feat]
cmd = "x"
deps = ["data/raw/part1"]
outs = ["data/feat.bin"]
[stage.all]
cmd = "x"
deps = ["data"]
outs = ["report.txt"]
[stage.solo]
cmd = "x"
deps = ["src/main.py"]
"#,
            &["src/main.py"],
        )
        .unwrap();
        assert_eq!(
            edges(&g),
            [
                "raw <- []",
                "feat <- [raw]",
                "all <- [raw, feat]",
                "solo <- []",
            ]
        );
        assert_eq!(g.closure(&[g.find("all").unwrap()], false).len(), 3);
        assert_eq!(g.closure(&[g.find("raw").unwrap()], true).len(), 3);
        assert_eq!(
            g.resolve_targets(&["data/feat.bin".into()]).unwrap(),
            vec![g.find("feat").unwrap()]
        );
        assert_eq!(
            g.resolve_targets(&["fea".into()]).unwrap_err().to_string(),
            "no stage `fea` in the pipeline (did you mean `feat`?)"
        );
        assert_eq!(
            g.resolve_targets(&["zzz".into()]).unwrap_err().to_string(),
            "no stage `zzz` in the pipeline"
        );
    }

    #[test]
    fn sweep_cells_share_upstream_and_link_within_the_cell() {
        let g = graph(
            r#"
[stage.prep]
cmd = "x"
outs = ["d"]
[stage.train]
cmd = "x ${m.g} ${outs[0]}"
deps = ["d"]
outs = ["m.bin"]
[stage.eval]
cmd = "x ${deps[0]} ${metrics[0]}"
deps = ["m.bin"]
metrics = ["e.json"]
[sweep.s]
stages = ["train", "eval"]
matrix = { "m.g" = [1, 2] }
"#,
            &[],
        )
        .unwrap();
        assert_eq!(
            edges(&g),
            [
                "prep <- []",
                "train <- [prep]",
                "eval <- [train]",
                "train@g=1 <- [prep]",
                "eval@g=1 <- [train@g=1]",
                "train@g=2 <- [prep]",
                "eval@g=2 <- [train@g=2]",
            ]
        );
        let e = &g[g.find("eval@g=2").unwrap()];
        assert_eq!(e.deps[0].as_str(), "sweeps/s/g=2/m.bin");
        assert_eq!(e.outs[0].path.as_str(), "sweeps/s/g=2/e.json");
        match &g[g.find("train@g=1").unwrap()].kind {
            StageKind::Cmd(c) => assert_eq!(c[0], "x 1 sweeps/s/g=1/m.bin"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn params_are_spelled_in_commands_and_cell_names_as_decimals() {
        // Pinned: a command or a cell id that spelled a number otherwise would be another
        // command (a stale stage) or another cell.
        let g = graph(
            r#"
[stage.train]
cmd = "x ${m.lr} ${m.big} ${m.on} ${m.n}"
params = ["m"]
outs = ["o"]
[sweep.s]
stages = ["train"]
matrix = { "m.lr" = [1e-5, 0.5], "m.big" = [1e16] }
"#,
            &[],
        );
        let g = g.unwrap_or_else(|e| panic!("{e}"));
        let cmd = |id: &str| match &g[g.find(id).unwrap()].kind {
            StageKind::Cmd(c) => c[0].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(cmd("train"), "x 0.00001 10000000000000000.0 true 3");
        assert_eq!(
            cmd("train@lr=0.00001,big=10000000000000000.0"),
            "x 0.00001 10000000000000000.0 true 3"
        );
        assert!(g.find("train@lr=0.5,big=10000000000000000.0").is_some());
    }

    proptest::proptest! {
        #[test]
        fn loading_arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = graph(&text, &[]);
        }

        #[test]
        fn loading_stage_shaped_text_never_panics(
            name in "[a-z@. ]{0,6}",
            cmd in "[a-z${}\\[\\]0-9. ]{0,20}",
            dep in "[a-z./]{0,10}",
            out in "[a-z./]{0,10}",
        ) {
            let spec = format!("[stage.\"{name}\"]\ncmd = \"{cmd}\"\ndeps = [\"{dep}\"]\nouts = [\"{out}\"]\n");
            let _ = graph(&spec, &[]);
        }
    }
}
