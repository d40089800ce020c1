//! hubbub's load generator. It speaks Socket.IO over websockets itself (no client library),
//! sets its own users and groups up through the API, sends at a fixed rate whatever the server
//! does (open loop, latency measured from each send's due time), checks every delivery, and
//! reads each server process's CPU and memory from /proc, so results read as work per
//! CPU-second. `scripts/loadtest.sh` runs it against the local stack and the Node reference.
//!
//! Scenarios: `chat` (groups × members at a rate, typing and seen mixed in, ramp to find the
//! highest rate holding the p99 target), `idle` (connections held: memory per connection, idle
//! CPU), `storm` (everyone reconnects at once and syncs), `history` (REST reads);
//! `compare` prints two `chat` summaries side by side.

mod api;
mod chat;
mod conns;
mod history;
mod procs;
mod report;
mod setup;
mod sio;

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(
    name = "hubbub-loadtest",
    about = "Load tests a hubbub stack (or the Node reference) over Socket.IO and HTTP"
)]
struct Cli {
    /// The stack's HTTP base (nginx): the API, and Socket.IO unless --socket is given.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    url: String,
    /// Socket.IO servers to connect to directly (host:port, comma-separated); sockets are dealt
    /// over them in turn. Default: the host of --url (nginx spreads them).
    #[arg(long, value_delimiter = ',', global = true)]
    socket: Vec<String>,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+N): nginx hashes by client address, so this
    /// spreads sockets over the chat nodes.
    #[arg(long, default_value_t = 24, global = true)]
    spread: u8,
    /// Talk to the Node reference server (no API; the handshake names the user's groups).
    #[arg(long, global = true)]
    reference: bool,
    /// Name of the system in tables (default: hubbub, or node-reference).
    #[arg(long, global = true)]
    system: Option<String>,
    /// Directories of `NAME.pid` files of processes to watch (the stack's run dir pids/).
    #[arg(long = "pids", global = true)]
    pid_dirs: Vec<String>,
    /// More processes to watch, as name=pid.
    #[arg(long = "proc", global = true)]
    procs: Vec<String>,
    /// Processes to watch found by their listening port, as name=port (e.g. redis=6379).
    #[arg(long = "port-proc", global = true)]
    port_procs: Vec<String>,
    /// Directory for summary.json, table.md and the charts (default target/loadtest/<time>-<scenario>).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Hard bound on the whole run, in seconds.
    #[arg(long, default_value_t = 900, global = true)]
    max_seconds: u64,
    /// Largest number of sockets a run may open (open files are capped on these machines).
    #[arg(long, default_value_t = 15_000, global = true)]
    max_connections: usize,
    /// Exit non-zero when a step misses its target (lost, duplicated, out of order, p99).
    #[arg(long, global = true)]
    assert: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// G groups × M members, one socket each, sending at R msgs/s.
    Chat(chat::ChatArgs),
    /// N connections held open: memory per connection, idle CPU.
    Idle(conns::IdleArgs),
    /// N connections broken at once (node killed or dropped) that reconnect and sync.
    Storm(conns::StormArgs),
    /// REST reads: history pages and group lists at a rate.
    History(history::HistoryArgs),
    /// Prints two chat summaries (summary.json) side by side.
    Compare {
        /// summary.json files.
        files: Vec<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Scenario::Compare { files } = &cli.scenario {
        return compare(files);
    }
    let end = endpoint(&cli)?;
    let watch = procs::Watch::new(&cli.procs, &cli.pid_dirs, &cli.port_procs);
    let system = cli.system.clone().unwrap_or_else(|| if cli.reference { "node-reference" } else { "hubbub" }.into());
    let name = match &cli.scenario {
        Scenario::Chat(_) => "chat",
        Scenario::Idle(_) => "idle",
        Scenario::Storm(_) => "storm",
        Scenario::History(_) => "history",
        Scenario::Compare { .. } => "compare",
    };
    let out = cli.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        PathBuf::from(format!("target/loadtest/{secs}-{system}-{name}"))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let connections = match &cli.scenario {
        Scenario::Chat(a) => a.groups * a.members,
        Scenario::Idle(a) => a.connections,
        Scenario::Storm(a) => a.connections,
        Scenario::History(_) | Scenario::Compare { .. } => 1,
    };
    if connections > cli.max_connections {
        bail!("{connections} connections asked; the bound is --max-connections {}", cli.max_connections);
    }
    eprintln!("{system} {name}: watching {} processes; results in {}", watch.procs.len(), out.display());
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(250));
    let bound = Instant::now() + Duration::from_secs(cli.max_seconds);
    let work = scenario(&cli, &end, &watch, &system, &out, bound, &bar);
    let result = tokio::time::timeout(Duration::from_secs(cli.max_seconds), work)
        .await
        .map_err(|_| anyhow::anyhow!("the run passed --max-seconds {}", cli.max_seconds))?;
    bar.finish_and_clear();
    let passed = result?;
    if cli.assert && !passed {
        bail!("the run missed its targets (see above)");
    }
    Ok(())
}

fn endpoint(cli: &Cli) -> anyhow::Result<setup::Endpoint> {
    let host = cli.url.trim_start_matches("http://").trim_end_matches('/');
    let sockets: Vec<String> = if cli.socket.is_empty() { vec![host.to_owned()] } else { cli.socket.clone() };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for s in &sockets {
        let addr = s.to_socket_addrs().with_context(|| format!("resolving {s}"))?.next().context("no address")?;
        if !addr.ip().is_loopback() {
            bail!("{addr} is not a loopback address: the load test stays on this machine");
        }
        addrs.push(addr);
    }
    Ok(setup::Endpoint {
        api: api::Api::new(&cli.url),
        sockets: addrs,
        spread: cli.spread,
        reference: cli.reference,
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
    })
}

/// Runs the chosen scenario, writes its results, and says whether it met its targets.
async fn scenario(
    cli: &Cli,
    end: &setup::Endpoint,
    watch: &procs::Watch,
    system: &str,
    out: &Path,
    bound: Instant,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<bool> {
    match &cli.scenario {
        Scenario::Chat(args) => {
            let (steps, timeline) = chat::run(end, args, watch, bound, bar).await?;
            bar.finish_and_clear();
            let table = report::chat_table(system, &steps);
            let mut md = format!(
                "## {system}: chat, {} groups × {} members, {} socket(s) target(s), typing every {} sends, seen every {} deliveries\n\n{table}\n",
                args.groups,
                args.members,
                end.sockets.len(),
                args.typing_every,
                args.seen_every
            );
            let best = steps.iter().filter(|s| s.pass).map(|s| s.target_rate).fold(0.0, f64::max);
            md.push_str(&format!(
                "Highest rate that held p99 < {} ms with nothing lost: {best:.0} msgs/s\n\n",
                args.p99_target_ms
            ));
            if let Some(main) = steps.first() {
                md.push_str(&format!("Processes during the main step:\n\n{}\n", report::process_table(main)));
            }
            println!("{md}");
            std::fs::write(out.join("table.md"), &md)?;
            let summary = json!({ "system": system, "scenario": "chat", "args": format!("{args:?}"), "steps": steps, "highest_passing_rate": best, "timeline": timeline });
            report::write_json(&out.join("summary.json"), &summary)?;
            let t = report::timeline_chart(
                &out.join("latency-over-time.png"),
                &format!("{system}: send → deliver latency per second"),
                &timeline,
            )?;
            let s = report::spectrum_chart(
                &out.join("percentiles.png"),
                &format!("{system}: send → deliver percentile spectrum"),
                &steps,
            )?;
            if !(t && s) {
                eprintln!("charts skipped: no font found (install fonts-dejavu-core)");
            }
            for st in &steps {
                if !st.pass {
                    eprintln!(
                        "step {} missed: acked {}/{}, failed {:?}, timed out {}, lost {}, duplicated {}, out of order {}, p99 {} ms",
                        st.label,
                        st.acked,
                        st.sent,
                        st.failed,
                        st.timed_out,
                        st.lost,
                        st.duplicated,
                        st.out_of_order,
                        st.deliver.p99_ms
                    );
                }
            }
            Ok(steps.first().is_some_and(|s| s.pass))
        }
        Scenario::Idle(args) => {
            let r = conns::idle(end, args, watch, bar).await?;
            finish(out, system, "idle", &r)?;
            Ok(true)
        }
        Scenario::Storm(args) => {
            let r = conns::storm(end, args, bar).await?;
            let v = finish(out, system, "storm", &r)?;
            Ok(v["pass"] == Value::Bool(true))
        }
        Scenario::History(args) => {
            let r = history::run(end, args, watch, bar).await?;
            let v = finish(out, system, "history", &r)?;
            Ok(v["statuses"].as_object().is_some_and(|s| s.keys().all(|k| k == "200")))
        }
        Scenario::Compare { .. } => Ok(true),
    }
}

/// Prints and writes a scenario's summary; returns it as JSON.
fn finish<T: serde::Serialize>(out: &Path, system: &str, scenario: &str, r: &T) -> anyhow::Result<Value> {
    let v = json!({ "system": system, "scenario": scenario, "result": r });
    report::write_json(&out.join("summary.json"), &v)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(v["result"].clone())
}

/// Prints chat summaries side by side, and how many deliveries per CPU-second each made.
fn compare(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut all = Vec::new();
    let mut table = String::new();
    for f in files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).with_context(|| format!("reading {}", f.display()))?)?;
        let system = v["system"].as_str().unwrap_or("?").to_owned();
        let steps: Vec<report::ChatStep> = v["steps"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| serde_json::from_value(s.clone()).ok()).collect())
            .unwrap_or_default();
        let t = report::chat_table(&system, &steps);
        if table.is_empty() {
            table = t;
        } else {
            table.extend(t.lines().skip(2).map(|l| format!("{l}\n")));
        }
        if let Some(first) = steps.first() {
            all.push((system, first.deliveries_per_cpu_s, first.messages_per_cpu_s));
        }
    }
    println!("{table}");
    if let [(a, da, _), (b, db, _)] = all.as_slice()
        && *db > 0.0
    {
        println!("main step: {a} makes {:.2}× the deliveries per server CPU-second of {b}", da / db);
    }
    Ok(())
}
