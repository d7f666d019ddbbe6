//! `check --html FILE`: each counterexample as one self-contained page to share or attach
//! to a bug report. It opens with no server: the flags it came from, the properties it
//! breaks and what went wrong, the command that reproduces it and the one that opens it in
//! the explorer; then every step, with the state after it as the explorer shows states,
//! what the step changed marked `*`, and stateright's sequence diagram. Arrow keys (or
//! j/k) move between steps; a click selects one.

use crate::report::SearchResult;
use paxchain_model::explain::what_went_wrong;
use paxchain_model::readable;
use paxchain_model::trace::Step;
use paxchain_model::BankModel;
use stateright::{Model, Path};
use std::fmt::Write as _;

/// Writes the page for the counterexample `steps`, which breaks `properties`, to `file`;
/// `verdict`: what a replay on real servers found (`replay --html`).
pub fn write(
    file: &std::path::Path,
    model: &BankModel,
    steps: &[Step],
    properties: &[&str],
    explorer: Option<&str>,
    verdict: Option<&str>,
) -> std::io::Result<()> {
    let init = (model.init_states().into_iter().next())
        .ok_or_else(|| std::io::Error::other("the model has no initial state"))?;
    let mut states = vec![init.clone()];
    let mut changes = vec!["the initial state".to_string()];
    for s in steps {
        let last = states.last().expect("the initial state at least");
        let changed = readable::step(model, last, s.to_action()).unwrap_or_default();
        let next = (model.next_state(last, s.to_action()))
            .ok_or_else(|| std::io::Error::other("the counterexample does not replay"))?;
        changes.push(changed);
        states.push(next);
    }
    let actions: Vec<_> = steps.iter().map(Step::to_action).collect();
    let svg = Path::from_actions(model, init, actions.iter())
        .and_then(|p| model.as_svg(p))
        .unwrap_or_default();
    let last = states.last().expect("the initial state at least");
    let why: Vec<String> = (properties.iter())
        .filter_map(|p| what_went_wrong(model, last, p))
        .collect();
    let mut page = page(
        model, steps, &states, &changes, properties, &why, explorer, &svg,
    );
    if let Some(v) = verdict {
        let line = format!("<p class=\"why\">On real servers: {}</p>\n", escape(v));
        let at = page.find("<p>Reproduce:").unwrap_or(0);
        page.insert_str(at, &line);
    }
    std::fs::write(file, page)
}

/// The `k`-th page's file (from 0): `file`, then `file-2`, `file-3`, ...
pub fn page_file(file: &std::path::Path, k: usize) -> std::path::PathBuf {
    if k == 0 {
        return file.to_path_buf();
    }
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let ext = file
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()));
    file.with_file_name(format!("{stem}-{}{}", k + 1, ext.unwrap_or_default()))
}

/// `--html`: a page per counterexample, at `file` and then `file-2`, `file-3`, ...
pub fn write_pages(file: &std::path::Path, model: &BankModel, o: &SearchResult) {
    for (k, (steps, names, path)) in crate::report::counterexamples(o).into_iter().enumerate() {
        let at = page_file(file, k);
        let explorer = path.map(|p| crate::report::explorer_line(p));
        match write(&at, model, steps, &names, explorer.as_deref(), None) {
            Ok(()) => eprintln!("wrote {}", at.display()),
            Err(e) => eprintln!("paxchain-check: could not write {}: {e}", at.display()),
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The command that reproduces the check, as it was run (without `--html`).
fn command() -> String {
    let mut args = std::env::args().skip(1);
    let mut out = vec!["paxchain-check".to_string()];
    while let Some(a) = args.next() {
        if a == "--html" {
            args.next();
            continue;
        }
        if a.starts_with("--html=") {
            continue;
        }
        out.push(if a.contains(' ') {
            format!("\"{a}\"")
        } else {
            a
        });
    }
    out.join(" ")
}

#[allow(clippy::too_many_arguments)]
fn page(
    model: &BankModel,
    steps: &[Step],
    states: &[paxchain_model::BankState],
    changes: &[String],
    properties: &[&str],
    why: &[String],
    explorer: Option<&str>,
    svg: &str,
) -> String {
    let cfg = &model.cfg;
    let mut h = String::new();
    // A trace that breaks an `always` is a counterexample; one that reaches a `sometimes`
    // (replay --html of a report's examples) is an example.
    let last = states.last().expect("the initial state at least");
    let breaks = (model.properties.iter()).any(|p| {
        properties.contains(&p.name)
            && p.expectation != stateright::Expectation::Sometimes
            && !(p.condition)(model, last)
    });
    let kind = if breaks { "counterexample" } else { "example" };
    let title = format!("paxchain {kind}: {}", properties.join(", "));
    let _ = write!(
        h,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        h,
        "<p>{} servers, {} variant, {} network{}, up to {} crashed. {}: <b>{}</b>.</p>",
        cfg.servers,
        cfg.variant,
        cfg.network,
        if cfg.lossy { ", lossy" } else { "" },
        cfg.max_crashes,
        if breaks { "Breaks" } else { "Reaches" },
        escape(&properties.join(", "))
    );
    for w in why {
        let _ = writeln!(h, "<p class=\"why\">What went wrong: {}.</p>", escape(w));
    }
    let _ = writeln!(h, "<p>Reproduce: <code>{}</code></p>", escape(&command()));
    if let Some(e) = explorer {
        let _ = writeln!(h, "<p>In the explorer: {}</p>", escape(e));
    }
    h.push_str("<div id=\"main\"><ol id=\"steps\" start=\"0\">\n");
    let _ = writeln!(h, "<li data-k=\"0\">the initial state</li>");
    let mut delivered = Vec::new();
    for (k, s) in steps.iter().enumerate() {
        let again = match s {
            Step::Deliver { src, dst, msg } => {
                let seen = delivered.contains(&(src, dst, msg));
                delivered.push((src, dst, msg));
                seen
            }
            _ => false,
        };
        let mark = if again {
            " <i>(again: a duplicate)</i>"
        } else {
            ""
        };
        let text = escape(&s.describe(model));
        let _ = writeln!(h, "<li data-k=\"{}\">{text}{mark}</li>", k + 1);
    }
    h.push_str("</ol>\n<div id=\"panel\">\n");
    for (k, (state, change)) in states.iter().zip(changes).enumerate() {
        let _ = writeln!(
            h,
            "<section data-k=\"{k}\"><h3>after step {k}</h3><pre class=\"change\">{}</pre><pre>{}</pre></section>",
            escape(change),
            escape(&readable::state(model, state))
        );
    }
    let _ = write!(
        h,
        "</div></div>\n<h2>Sequence diagram</h2>\n<div id=\"diagram\">{svg}</div>\n"
    );
    let _ = write!(
        h,
        "<p id=\"ready\"></p>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    h
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em}code,pre{font-family:monospace}\
#main{display:flex;gap:1.5em}#steps{flex:0 0 40%;font-family:monospace;font-size:13px}\
#steps li{cursor:pointer;padding:1px 4px}#steps li.on{background:#ffe9a8}\
#panel{flex:1}#panel section{display:none}#panel section.on{display:block}\
pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}pre.change{background:#eef6ff}\
.why{font-weight:bold;color:#a00}#diagram svg{background:#10243a}\
.svg-actor-timeline{stroke:#6a8caf}.svg-actor-label{fill:#ffd}\
.svg-event-line{stroke:#6a8caf}.svg-event-shape{fill:#6a8caf}\
.svg-event-label{fill:#ffd;font-size:12px}";

/// Selection by click and keys; and, for a headless check, what the page drew.
const SCRIPT: &str = "const items=[...document.querySelectorAll('#steps li')];\
const secs=[...document.querySelectorAll('#panel section')];let at=items.length-1;\
function show(k){at=Math.max(0,Math.min(items.length-1,k));\
items.forEach((e,i)=>e.classList.toggle('on',i===at));\
secs.forEach((e,i)=>e.classList.toggle('on',i===at));}\
items.forEach((e,i)=>e.addEventListener('click',()=>show(i)));\
document.addEventListener('keydown',e=>{if(['ArrowDown','ArrowRight','j'].includes(e.key))show(at+1);\
if(['ArrowUp','ArrowLeft','k'].includes(e.key))show(at-1);});show(at);\
const lines=document.querySelectorAll('#diagram svg line').length;\
document.getElementById('ready').textContent=(items.length-1)+' steps, '+secs.length+' states, '+\
(lines>0?'diagram drawn':'no diagram');";
