//! Params a DVC stage reads that its params files do not hold (a key not written yet, a
//! params file not in the clone). DVC loads such a project and shows the param as
//! deleted; pipe cannot load a stage reading a param that is not there, so the import
//! leaves it out of the stage and says so once per stage definition (file:line), with how
//! to bring it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::Table;

use super::convert::ParamDecl;
use super::{Import, Note};
use crate::spec::Params;
use crate::wspath::WsPath;

/// Removes from `imp`'s stages every param no params file holds, with a note each.
pub fn prune(root: &Path, imp: &mut Import) {
    let mut tables: BTreeMap<String, Option<Table>> = BTreeMap::new();
    let mut table = |file: &str| -> Option<Table> {
        tables
            .entry(file.to_string())
            .or_insert_with(|| {
                let ws = WsPath::parse(file).ok()?;
                // A file that does not parse is reported when pipe loads it.
                Params::load_file(root, &ws).ok().flatten().map(|f| f.table)
            })
            .clone()
    };
    let defaults = imp.params_files.clone();
    let mut said = BTreeSet::new();
    for st in &mut imp.stages {
        let mut kept = Vec::with_capacity(st.params.len());
        for p in std::mem::take(&mut st.params) {
            let missing: Vec<(String, String)> = match &p {
                ParamDecl::Key(k) => {
                    let found = defaults.iter().any(|f| {
                        table(f).is_some_and(|t| crate::spec::params::lookup(&t, k).is_some())
                    });
                    if found {
                        Vec::new()
                    } else {
                        vec![(defaults.join(", "), k.clone())]
                    }
                }
                ParamDecl::File { file, keys } => {
                    let t = table(file);
                    keys.iter()
                        .filter(|k| {
                            t.as_ref()
                                .is_none_or(|t| crate::spec::params::lookup(t, k).is_none())
                        })
                        .map(|k| (file.clone(), k.clone()))
                        .collect()
                }
            };
            if missing.is_empty() {
                kept.push(p);
                continue;
            }
            for (file, key) in &missing {
                if said.insert((st.at.clone(), file.clone(), key.clone())) {
                    let where_ = if file.is_empty() {
                        "no params file".to_string()
                    } else {
                        file.clone()
                    };
                    imp.notes.push(Note {
                        at: st.at.clone(),
                        what: format!(
                            "stage `{}` reads param `{key}`, which {where_} does not hold (DVC shows it as deleted): not carried; add it there and to the stage's params",
                            // A foreach/matrix group is named once, as it is written.
                            st.dvc_name.split('@').next().unwrap_or(&st.dvc_name)
                        ),
                    });
                }
            }
            if let ParamDecl::File { file, keys } = p {
                let keys: Vec<String> = keys
                    .into_iter()
                    .filter(|k| !missing.iter().any(|(_, m)| m == k))
                    .collect();
                if !keys.is_empty() {
                    kept.push(ParamDecl::File { file, keys });
                }
            }
        }
        st.params = kept;
    }
}
