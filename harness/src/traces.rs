//! What is replayed: traces read from the checker's JSON, or random walks; and the verdict
//! on each.

use crate::compare::Difference;
use crate::replay::{Replay, Run, Session};
use crate::HarnessError;
use paxchain_model::trace::Step;
use paxchain_model::{BankModel, ModelConfig};
use serde_json::Value;

/// A trace to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// For people: the property it was found for, or `walk <seed>`.
    pub name: String,
    pub steps: Vec<Step>,
    /// The `always` property whose counterexample it is: the real servers must break it
    /// too, after the same step.
    pub breaks: Option<String>,
}

impl Trace {
    /// The random walk of `model` from `seed` (see `paxchain_model::walk`), at most
    /// `max_steps` long.
    pub fn walk(model: &BankModel, seed: u64, max_steps: usize) -> Trace {
        Trace {
            name: format!("walk {seed}"),
            steps: paxchain_model::walk::walk(model, seed, max_steps),
            breaks: None,
        }
    }
}

/// The traces in `text`: the JSON `paxchain-check check --json` prints (every property's
/// trace, or only `property`'s), or a JSON list of steps. A report made for another
/// configuration than `cfg` is refused.
pub fn load(
    text: &str,
    cfg: &ModelConfig,
    property: Option<&str>,
) -> Result<Vec<Trace>, HarnessError> {
    let bad = |why: String| HarnessError::Config(format!("the trace file: {why}"));
    let json: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if json.is_array() {
        let steps = serde_json::from_value(json).map_err(|e| bad(e.to_string()))?;
        let name = property.unwrap_or("steps").to_string();
        return Ok(vec![Trace {
            name,
            steps,
            breaks: None,
        }]);
    }
    let expect = [
        ("servers", Value::from(cfg.servers)),
        ("variant", Value::from(cfg.variant.to_string())),
        ("network", Value::from(cfg.network.to_string())),
        ("lossy", Value::from(cfg.lossy)),
        ("max_crashes", Value::from(cfg.max_crashes)),
    ];
    for (field, want) in expect {
        if json.get(field) != Some(&want) {
            return Err(bad(format!(
                "it was made with {field} {}, the model flags give {want}: pass the flags of the \
                 check that made it",
                json.get(field).unwrap_or(&Value::Null)
            )));
        }
    }
    let props = json
        .get("properties")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `properties` list: not a `check --json` report".into()))?;
    let mut traces = Vec::new();
    for p in props {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let Some(steps) = p.get("trace") else {
            continue;
        };
        if property.is_some_and(|want| want != name) {
            continue;
        }
        let steps: Vec<Step> =
            serde_json::from_value(steps.clone()).map_err(|e| bad(format!("{name}: {e}")))?;
        let violated = p.get("kind").and_then(Value::as_str) == Some("always")
            && p.get("status").and_then(Value::as_str) == Some("violated");
        traces.push(Trace {
            name: name.to_string(),
            steps,
            breaks: violated.then(|| name.to_string()),
        });
    }
    if traces.is_empty() {
        return Err(bad(match property {
            Some(p) => format!("no trace for property `{p}`"),
            None => "it holds no trace".into(),
        }));
    }
    Ok(traces)
}

/// What replaying a trace showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every step matched (and a counterexample broke its property on the real servers
    /// after the same step as in the model).
    Matched,
    /// The real cluster differed from the model.
    Differs(Difference),
    /// Every step matched, but the property the trace is a counterexample of did not break
    /// on the real servers' states after the step it breaks in the model.
    NotBroken {
        property: String,
        model_step: Option<usize>,
        real_step: Option<usize>,
    },
}

/// Replays `trace` on a new cluster of `model`'s servers (see [`crate::replay::model`]).
pub fn replay(
    how: &Replay,
    model: &BankModel,
    trace: &Trace,
    session: &str,
) -> Result<(Run, Verdict), HarnessError> {
    let (mut s, first) = Session::start(model, how, session)?;
    if let Some(d) = first {
        return Ok((Run::default(), Verdict::Differs(d)));
    }
    let run = s.run(&trace.steps)?;
    let verdict = match (&run.difference, &trace.breaks) {
        (Some(d), _) => Verdict::Differs(d.clone()),
        (None, Some(p)) => {
            let model_step = run.model_breaks.get(p.as_str()).copied();
            let real_step = run.real_breaks.get(p.as_str()).copied();
            if model_step.is_some() && model_step == real_step {
                Verdict::Matched
            } else {
                Verdict::NotBroken {
                    property: p.clone(),
                    model_step,
                    real_step,
                }
            }
        }
        (None, None) => Verdict::Matched,
    };
    let dir = s.dir().to_path_buf();
    drop(s);
    if verdict == Verdict::Matched {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok((run, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain_model::scenarios;

    #[test]
    fn a_report_for_another_configuration_is_refused_and_lists_load() {
        let cfg = scenarios::by_name("default").unwrap().config;
        let report = r#"{"servers": 5, "variant": "safe", "network": "duplicating",
                         "lossy": false, "max_crashes": 0, "properties": []}"#;
        let e = load(report, &cfg, None).unwrap_err().to_string();
        assert!(e.contains("servers 5"), "{e}");
        let steps = r#"[{"Crash": {"actor": 1}}, {"Recover": {"actor": 1}}]"#;
        let t = load(steps, &cfg, None).unwrap();
        assert_eq!(
            t[0].steps,
            vec![Step::Crash { actor: 1 }, Step::Recover { actor: 1 }]
        );
        assert!(load("[{]", &cfg, None).is_err());
    }
}
