//! Results: latency summaries from HDR histograms, the JSON summary, the Markdown table and the
//! PNG charts (latency over time, percentile spectrum).

use std::path::Path;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::procs::{Kind, Usage};

/// A new histogram of microseconds, 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    #[allow(clippy::unwrap_used)] // constant, valid bounds
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()
}

/// Percentiles of a histogram of microseconds, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

#[allow(clippy::cast_precision_loss)]
fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 100.0).round() / 100.0
}

impl Latency {
    /// Summary of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// CPU use of a step, summed by category.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// Every watched process.
    pub processes: Vec<Usage>,
    /// hubbub's services (or the reference server) with nginx, Redis, MongoDB, RabbitMQ, S3.
    pub server_s: f64,
    /// The Kafka-protocol server alone.
    pub broker_s: f64,
    /// The load generator itself.
    pub loadgen_s: f64,
}

impl Cpu {
    /// Sums `usage` into categories.
    pub fn of(processes: Vec<Usage>, loadgen_s: f64) -> Self {
        // `+ 0.0`: an empty float sum is -0.0.
        let sum = |f: &dyn Fn(Kind) -> bool| processes.iter().filter(|u| f(u.kind)).map(|u| u.cpu_s).sum::<f64>() + 0.0;
        Self { server_s: sum(&|k| k != Kind::Broker), broker_s: sum(&|k| k == Kind::Broker), loadgen_s, processes }
    }
}

/// One measured step of the chat scenario.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatStep {
    /// What the step was.
    pub label: String,
    /// Asked send rate (messages/s).
    pub target_rate: f64,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Sends emitted.
    pub sent: u64,
    /// Sends acknowledged `ok: true`.
    pub acked: u64,
    /// Sends acknowledged `ok: false` (code → count).
    pub failed: std::collections::BTreeMap<String, u64>,
    /// Sends with no acknowledgement in time.
    pub timed_out: u64,
    /// Client message ids of (up to 20 of) those sends, to look for in the logs.
    pub unanswered: Vec<String>,
    /// Distinct deliveries of acknowledged messages expected (acked × other members).
    pub expected: u64,
    /// Distinct deliveries seen.
    pub delivered: u64,
    /// Expected deliveries that never came.
    pub lost: u64,
    /// Sends not acknowledged `ok` that members received anyway (stored, but the sender was
    /// not told: it would retry with the same client id and get the same message).
    pub unacked_delivered: u64,
    /// Deliveries of a message a member already had.
    pub duplicated: u64,
    /// Deliveries whose seq was not above the member's last one (order broken).
    pub out_of_order: u64,
    /// Whether seqs were present (the reference server has none).
    pub ordered: bool,
    /// Receipt events (`chat.message.delivered` / `chat.message.seen`) the members received:
    /// what receipts cost in packets, beside `delivered`.
    pub receipt_events: u64,
    /// Any other events the members received (typing, presence).
    pub other_events: u64,
    /// Sends per second actually emitted.
    pub achieved_rate: f64,
    /// Deliveries per second.
    pub deliveries_per_s: f64,
    /// Send (scheduled time, so stalls count: coordinated omission corrected) to delivery.
    pub deliver: Latency,
    /// Send (scheduled time) to acknowledgement.
    pub ack: Latency,
    /// CPU over the step.
    pub cpu: Cpu,
    /// Acknowledged messages per server CPU-second (broker and load generator excluded).
    pub messages_per_cpu_s: f64,
    /// Deliveries per server CPU-second.
    pub deliveries_per_cpu_s: f64,
    /// Every send acknowledged, nothing lost, duplicated or out of order, p99 under the target.
    pub pass: bool,
    /// (percentile, ms) of send→deliver, for the spectrum chart.
    #[serde(skip)]
    pub spectrum: Vec<(f64, f64)>,
}

/// A second of the run: (seconds since start, p50 ms, p99 ms, max ms, deliveries).
pub type Tick = (f64, f64, f64, f64, u64);

/// The spectrum of `h`: (percentile, ms) at 0, 50, 75, 87.5, … percent.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return vec![];
    }
    h.iter_quantiles(2).map(|v| (v.quantile_iterated_to() * 100.0, ms(v.value_iterated_to()))).collect()
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?).with_context(|| format!("writing {}", path.display()))
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "**no**" }
}

/// The chat steps as a Markdown table.
pub fn chat_table(system: &str, steps: &[ChatStep]) -> String {
    let mut out = String::from(
        "| system | step | target/s | sent/s | acked | failed+timed out | lost | dup | out of order | p50 ms | p99 ms | max ms | server CPU s | msgs/CPU-s | deliveries/CPU-s | receipt events | broker CPU s | pass |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in steps {
        let failed: u64 = s.failed.values().sum::<u64>() + s.timed_out;
        let ooo = if s.ordered { s.out_of_order.to_string() } else { "n/a (no seq)".into() };
        out.push_str(&format!(
            "| {system} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {} | {:.1} | {} |\n",
            s.label,
            s.target_rate,
            s.achieved_rate,
            s.acked,
            failed,
            s.lost,
            s.duplicated,
            ooo,
            s.deliver.p50_ms,
            s.deliver.p99_ms,
            s.deliver.max_ms,
            s.cpu.server_s,
            s.messages_per_cpu_s,
            s.deliveries_per_cpu_s,
            s.receipt_events,
            s.cpu.broker_s,
            yes(s.pass),
        ));
    }
    out
}

/// Per-process CPU and memory of a step as a Markdown table.
pub fn process_table(step: &ChatStep) -> String {
    let mut out = String::from("| process | kind | CPU s | RSS MiB |\n|---|---|---|---|\n");
    for u in &step.cpu.processes {
        out.push_str(&format!("| {} | {:?} | {:.2} | {:.1} |\n", u.name, u.kind, u.cpu_s, u.rss_mib));
    }
    out.push_str(&format!("| load generator | - | {:.2} | - |\n", step.cpu.loadgen_s));
    out
}

/// Registers a system font for chart text; false when none is found (charts are then skipped).
fn font() -> bool {
    use std::sync::OnceLock;
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let candidates = [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
        ];
        for path in candidates {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// One line of a chart: its legend, color and points.
type Line = (String, plotters::style::RGBColor, Vec<(f64, f64)>);

/// Draws `lines` into a PNG at `path`: x from `x.0` to `x.1`, y from 0 to the highest point.
fn line_chart(
    path: &Path,
    title: &str,
    x: (f64, f64, &str),
    x_label: &dyn Fn(&f64) -> String,
    lines: &[Line],
) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {}: {e}", path.display());
    let y_max = lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)).fold(1.0, f64::max) * 1.1;
    let root = BitMapBackend::new(path, (1000, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x.0..x.1, 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x.2)
        .x_label_formatter(x_label)
        .y_desc("send → deliver, ms")
        .draw()
        .map_err(|e| err(&e))?;
    for (name, color, points) in lines {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws latency over time (p50, p99, max per second) into `path`; false without a font.
pub fn timeline_chart(path: &Path, title: &str, ticks: &[Tick]) -> anyhow::Result<bool> {
    use plotters::style::{BLUE, RED, RGBColor};
    if ticks.is_empty() || !font() {
        return Ok(false);
    }
    let x_max = ticks.iter().map(|t| t.0).fold(1.0, f64::max);
    let line =
        |name: &str, color, f: fn(&Tick) -> f64| (name.to_owned(), color, ticks.iter().map(|t| (t.0, f(t))).collect());
    let lines = [line("p50", BLUE, |t| t.1), line("p99", RED, |t| t.2), line("max", RGBColor(150, 150, 150), |t| t.3)];
    line_chart(path, title, (0.0, x_max, "seconds since start"), &|x| format!("{x:.0}"), &lines)?;
    Ok(true)
}

/// Draws the percentile spectrum of each step (x: percentile on a "nines" scale) into `path`;
/// false without a font.
pub fn spectrum_chart(path: &Path, title: &str, steps: &[ChatStep]) -> anyhow::Result<bool> {
    use plotters::style::{Color as _, Palette, Palette99};
    if steps.iter().all(|s| s.spectrum.is_empty()) || !font() {
        return Ok(false);
    }
    // x = log10(1 / (1 - p)): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9.
    let nines = |p: f64| (1.0 / (1.0 - (p / 100.0).min(0.9999))).log10();
    let lines: Vec<Line> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (r, g, b) = Palette99::pick(i).to_rgba().rgb();
            let name = format!("{} ({:.0}/s)", s.label, s.target_rate);
            (name, plotters::style::RGBColor(r, g, b), s.spectrum.iter().map(|&(p, v)| (nines(p), v)).collect())
        })
        .collect();
    let label = |x: &f64| format!("p{}", 100.0 - 100.0 / 10f64.powf(*x));
    line_chart(path, title, (0.0, 4.0, "percentile"), &label, &lines)?;
    Ok(true)
}
