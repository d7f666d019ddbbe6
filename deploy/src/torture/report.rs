//! `report.html`: the run's plots on one page, drawn with plotters as inline SVG, so the
//! page needs nothing but a browser.
//!
//! 1. Latency over time: every answered request (thinned to at most [`MAX_POINTS`]) by when
//!    it was sent, per server, on a log scale; unanswered ones as crosses along the top.
//! 2. Throughput over time: answers per second, by outcome.
//! 3. Balances over time: each server's own balance as it reported it.
//! 4. Latency after a round, per server: the distribution (the fairness of elections).
//!
//! The first three shade each fault's window in its kind's colour; the legend under them
//! names the colours.

use super::faults::{Fault, ALL};
use super::load::Record;
use super::summary::{class, round_latencies};
use super::Run;
use paxchain::Account;
use plotters::coord::ranged1d::Ranged;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// The most request points the latency plot draws (evenly thinned beyond).
pub const MAX_POINTS: usize = 6_000;
/// The page's plot titles, in order: a check of the page looks for them.
pub const TITLES: [&str; 4] = [
    "Latency over time",
    "Throughput over time",
    "Balances over time",
    "Latency after a round, per server",
];
const SIZE: (u32, u32) = (1100, 340);
/// The strip right of each plot where its legend goes, clear of the data.
const LEGEND_WIDTH: u32 = 230;
/// Tick labels and axis descriptions: legible at the page's size. (plotters' SVG writes
/// a font of size `n` as `n / 1.24` px: these come out at 14 and 14.5 px.)
const TICKS: (&str, u32) = ("sans-serif", 17);
const AXIS: (&str, u32) = ("sans-serif", 18);

/// What a plot's legend lists: each series' name and colour.
type Entries = Vec<(String, RGBColor)>;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Result<T> = std::result::Result<T, Box<dyn std::error::Error + 'static>>;

/// Writes `dir/report.html` for `run`, with `summary` (the terminal's table) at its top.
pub fn write(dir: &Path, run: &Run, summary: &str) -> std::io::Result<()> {
    let plots = [latency, throughput, balances, distribution];
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>paxchain torture</title>\
         <style>body{{font-family:sans-serif;margin:2em}}pre{{background:#f6f6f6;padding:1em}}\
         .key span{{display:inline-block;padding:0 .6em;margin-right:.4em}}</style></head>\
         <body>\n<h1>paxchain torture</h1>\n<pre>{}</pre>\n",
        escape(summary)
    );
    for (title, plot) in TITLES.iter().zip(plots) {
        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            area.fill(&WHITE).map_err(std::io::Error::other)?;
            let (chart, side) = area.split_horizontally(SIZE.0 - LEGEND_WIDTH);
            let entries = plot(&chart, run).map_err(|e| std::io::Error::other(e.to_string()))?;
            side_legend(&side, &entries).map_err(|e| std::io::Error::other(e.to_string()))?;
            area.present().map_err(std::io::Error::other)?;
        }
        let _ = write!(html, "<h2>{title}</h2>\n<div class=\"plot\">{svg}</div>\n");
        if *title != TITLES[3] {
            html.push_str(&fault_key(run));
        }
    }
    // The page checks its own plots once a browser has laid it out: a headless browser's
    // dump of the page then says how many have a size (tests/torture.rs reads it).
    html.push_str(
        "<p id=\"drawn\"></p>\n<script>\nconst drawn = [...document.querySelectorAll('div.plot \
         svg')].filter(s => s.getBBox().width > 0 && s.querySelector('polyline, circle'));\n\
         document.getElementById('drawn').textContent = drawn.length + ' of ' + \
         document.querySelectorAll('div.plot svg').length + ' plots drawn';\n</script>\n",
    );
    html.push_str("</body></html>\n");
    std::fs::write(dir.join("report.html"), html)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The light colour that shades `fault`'s windows: one hue per kind, far enough apart to
/// tell nine kinds apart.
fn shade(fault: Fault) -> RGBColor {
    match fault {
        Fault::Kill => RGBColor(250, 180, 180),
        Fault::Pause => RGBColor(250, 215, 160),
        Fault::CrashAll => RGBColor(230, 150, 230),
        Fault::Loss => RGBColor(170, 210, 250),
        Fault::Dup => RGBColor(190, 240, 190),
        Fault::Delay => RGBColor(240, 240, 150),
        Fault::Reorder => RGBColor(200, 200, 200),
        Fault::Partition => RGBColor(150, 230, 230),
        Fault::Garbage => RGBColor(215, 190, 160),
        Fault::Forge => RGBColor(190, 150, 200),
    }
}

/// The legend of the fault colours that appear in `run`.
fn fault_key(run: &Run) -> String {
    let mut key = String::from("<p class=\"key\">");
    for f in ALL
        .iter()
        .filter(|f| run.faults.iter().any(|i| i.fault == **f))
    {
        let RGBColor(r, g, b) = shade(*f);
        let _ = write!(
            key,
            "<span style=\"background:rgb({r},{g},{b})\">{}</span>",
            f.name()
        );
    }
    key.push_str("</p>\n");
    key
}

fn seconds(run: &Run) -> f64 {
    let last = run.records.iter().map(|r| r.answered_ms).max().unwrap_or(0);
    (last.max(run.load_ms) as f64 / 1000.0).max(1.0)
}

fn server_colour(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// Shades every fault window of `run` across `y` on a chart with a time axis in seconds.
fn shade_faults<Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<SVGBackend, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    run: &Run,
    y: (f64, f64),
) -> Result<()> {
    chart.draw_series(run.faults.iter().map(|f| {
        let (a, b) = (f.start_ms as f64 / 1000.0, f.end_ms as f64 / 1000.0);
        Rectangle::new([(a, y.0), (b.max(a + 0.05), y.1)], shade(f.fault).filled())
    }))?;
    // Each band says what it was and whom it hit, written down its left edge.
    let style = TextStyle::from(("sans-serif", 13).into_font())
        .transform(FontTransform::Rotate90)
        .color(&RGBColor(90, 90, 90));
    chart.draw_series(run.faults.iter().map(|f| {
        let label = match f.target.as_str() {
            "" => f.fault.name().to_string(),
            t => format!("{} {t}", f.fault.name()),
        };
        Text::new(label, (f.start_ms as f64 / 1000.0, y.1), style.clone())
    }))?;
    Ok(())
}

/// A chart builder with the page's margins.
fn builder<'a, 'b>(area: &'a Area<'b>) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.margin(10).x_label_area_size(35).y_label_area_size(55);
    b
}

type Chart<'a, 'b, X, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>;

/// One line of `colour` through `points`, listed in `entries` as `label`.
fn line<'a, 'b: 'a, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'a, 'b, X, Y>,
    points: impl Iterator<Item = (f64, f64)>,
    colour: RGBColor,
    label: impl Into<String>,
    entries: &mut Entries,
) -> Result<()> {
    chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
    entries.push((label.into(), colour));
    Ok(())
}

/// The legend in the strip right of the plot: a swatch and a name per series.
fn side_legend(side: &Area, entries: &Entries) -> Result<()> {
    for (k, (label, colour)) in entries.iter().enumerate() {
        let y = 30 + 24 * k as i32;
        side.draw(&PathElement::new(
            vec![(8, y), (30, y)],
            colour.stroke_width(3),
        ))?;
        side.draw(&Text::new(label.clone(), (38, y - 8), TICKS.into_font()))?;
    }
    Ok(())
}

/// A tick's label: whole numbers as such (`1000`, not `1000.0`), fractions below 10 with
/// one digit (`0.5`, `1.5`), so that no two ticks of a short log axis read alike.
fn tick(v: &f64) -> String {
    let whole = v.round();
    if (v - whole).abs() < 1e-6 * whole.abs().max(1.0) || v.abs() >= 10.0 {
        format!("{whole:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn latency(area: &Area, run: &Run) -> Result<Entries> {
    let mut entries = Entries::new();
    let max = run
        .records
        .iter()
        .map(Record::latency_ms)
        .max()
        .unwrap_or(1);
    let top = (max as f64 * 2.0).max(10.0);
    let mut chart =
        builder(area).build_cartesian_2d(0f64..seconds(run), (0.5f64..top).log_scale())?;
    chart
        .configure_mesh()
        .label_style(TICKS)
        .axis_desc_style(AXIS)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .x_desc("seconds since the start (when the request was sent)")
        .y_desc("latency, ms")
        .draw()?;
    shade_faults(&mut chart, run, (0.5, top))?;
    let step = (run.records.len() / MAX_POINTS).max(1);
    for i in 0..run.cfg.servers {
        let me = Account::of_server(i);
        let colour = server_colour(i);
        let mine = (run.records.iter().step_by(step)).filter(|r| r.from == me);
        chart.draw_series(mine.clone().filter(|r| r.outcome.is_some()).map(|r| {
            let at = (r.sent_ms as f64 / 1000.0, (r.latency_ms() as f64).max(0.6));
            Circle::new(at, 2, colour.filled())
        }))?;
        entries.push((format!("server {me}"), colour));
        chart.draw_series(mine.filter(|r| r.outcome.is_none()).map(|r| {
            Cross::new(
                (r.sent_ms as f64 / 1000.0, top / 1.5),
                4,
                RED.stroke_width(2),
            )
        }))?;
    }
    Ok(entries)
}

fn throughput(area: &Area, run: &Run) -> Result<Entries> {
    let mut entries = Entries::new();
    let secs = seconds(run).ceil() as usize;
    let classes = [
        ("executed (fast path)", RGBColor(46, 160, 44)),
        ("executed after consensus", RGBColor(31, 119, 180)),
        ("refused after a round", RGBColor(255, 127, 14)),
        ("refused at once", RGBColor(127, 127, 127)),
        ("indeterminate", RGBColor(214, 39, 40)),
    ];
    let mut per = vec![vec![0u32; secs + 1]; classes.len()];
    for r in &run.records {
        let k = classes.iter().position(|c| c.0 == class(r)).unwrap_or(0);
        per[k][(r.answered_ms / 1000) as usize] += 1;
    }
    let top = per.iter().flatten().copied().max().unwrap_or(1) as f64 * 1.15;
    let mut chart = builder(area).build_cartesian_2d(0f64..seconds(run), 0f64..top)?;
    chart
        .configure_mesh()
        .label_style(TICKS)
        .axis_desc_style(AXIS)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .x_desc("seconds since the start")
        .y_desc("answers per second")
        .draw()?;
    shade_faults(&mut chart, run, (0.0, top))?;
    for (k, &(name, colour)) in classes.iter().enumerate() {
        let points = per[k]
            .iter()
            .enumerate()
            .map(|(s, n)| (s as f64 + 0.5, *n as f64));
        line(&mut chart, points, colour, name, &mut entries)?;
    }
    Ok(entries)
}

fn balances(area: &Area, run: &Run) -> Result<Entries> {
    let mut entries = Entries::new();
    let all = run.samples.iter().flat_map(|s| s.balances.iter().flatten());
    let top = all.copied().max().unwrap_or(1) as f64 * 1.15 + 1.0;
    let mut chart = builder(area).build_cartesian_2d(0f64..seconds(run), 0f64..top)?;
    chart
        .configure_mesh()
        .label_style(TICKS)
        .axis_desc_style(AXIS)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .x_desc("seconds since the start")
        .y_desc("own balance, units")
        .draw()?;
    shade_faults(&mut chart, run, (0.0, top))?;
    for i in 0..run.cfg.servers {
        let colour = server_colour(i);
        let points = (run.samples.iter()).filter_map(|s| {
            Some((
                s.at_ms as f64 / 1000.0,
                *s.balances.get(i)?.as_ref()? as f64,
            ))
        });
        line(
            &mut chart,
            points,
            colour,
            format!(
                "{} as server {} knows it",
                Account::of_server(i),
                Account::of_server(i)
            ),
            &mut entries,
        )?;
    }
    Ok(entries)
}

fn distribution(area: &Area, run: &Run) -> Result<Entries> {
    let mut entries = Entries::new();
    let per: Vec<Vec<u64>> = (0..run.cfg.servers)
        .map(|i| round_latencies(&run.records, i))
        .collect();
    let max = per.iter().flatten().copied().max().unwrap_or(1);
    let mut chart = builder(area).build_cartesian_2d(
        (0.5f64..(max as f64 * 2.0).max(10.0)).log_scale(),
        0f64..1.0,
    )?;
    chart
        .configure_mesh()
        .label_style(TICKS)
        .axis_desc_style(AXIS)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .x_desc("latency of answers after a consensus round, ms")
        .y_desc("fraction answered within")
        .draw()?;
    for (i, ms) in per.iter().enumerate() {
        let colour = server_colour(i);
        let n = ms.len().max(1) as f64;
        let points =
            (ms.iter().enumerate()).map(|(k, &l)| ((l as f64).max(0.6), (k + 1) as f64 / n));
        line(
            &mut chart,
            points,
            colour,
            format!("server {} ({} answers)", Account::of_server(i), ms.len()),
            &mut entries,
        )?;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torture::faults::Injected;
    use crate::torture::summary::tests::{config, request, run};
    use paxchain::Outcome;

    /// The page a person reads: fault bands say what and whom, ticks are whole numbers at
    /// a legible size, and legends stand right of the plots, clear of the data.
    #[test]
    fn the_plots_label_their_faults_and_keep_legends_and_ticks_legible() {
        let cfg = config();
        let records = (0..200)
            .map(|k| {
                request(
                    (k % 3) as u8,
                    k + 1,
                    50 * u64::from(k),
                    50 * u64::from(k) + 3,
                    Outcome::Executed,
                )
            })
            .collect();
        let kill = Injected {
            fault: Fault::Kill,
            target: "B".into(),
            start_ms: 2_000,
            end_ms: 4_000,
        };
        let r = run(&cfg, records, vec![kill]);
        let dir = std::env::temp_dir().join(format!("paxchain-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, &r, "summary").expect("the page");
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let texts: Vec<(&str, &str)> = (html.split("<text").skip(1))
            .filter_map(|t| {
                let (attrs, rest) = t.split_once('>')?;
                Some((attrs, rest.split('<').next()?.trim()))
            })
            .collect();
        assert!(
            texts.iter().any(|(_, t)| *t == "kill B"),
            "the band names its fault and target"
        );
        let ticks: Vec<&(&str, &str)> = (texts.iter())
            .filter(|(_, t)| t.parse::<f64>().is_ok())
            .collect();
        assert!(ticks.len() > 10, "{ticks:?}");
        assert!(
            ticks.iter().all(|(_, t)| !t.ends_with(".0")),
            "whole numbers: {ticks:?}"
        );
        let px = |attrs: &str| -> f64 {
            let size = attrs
                .split("font-size=\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            size.and_then(|s| s.parse().ok()).unwrap_or(0.0)
        };
        assert!(
            ticks.iter().all(|(a, _)| px(a) >= 13.5),
            "legible ticks: {ticks:?}"
        );
        // Every legend entry is drawn in the strip right of the plot.
        let plot_width = (SIZE.0 - LEGEND_WIDTH) as f64;
        let x = |attrs: &str| -> f64 {
            let at = attrs.split("x=\"").nth(1).and_then(|r| r.split('"').next());
            at.and_then(|s| s.parse().ok()).unwrap_or(0.0)
        };
        let legend: Vec<f64> = (texts.iter())
            .filter(|(_, t)| *t == "server A" || *t == "executed (fast path)")
            .map(|(a, _)| x(a))
            .collect();
        assert!(legend.len() >= 2, "{legend:?}");
        assert!(
            legend.iter().all(|&x| x > plot_width),
            "{legend:?} past {plot_width}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
