//! Server processes watched during a run: CPU seconds (user + system) and resident memory, read
//! from /proc for each process and its descendants (nginx's workers, node's children).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a process is, for the report's sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// hubbub's own services and chat nodes.
    #[default]
    Hubbub,
    /// The Node reference server.
    Reference,
    /// nginx in front.
    Edge,
    /// Redis, the MongoDB-protocol server, RabbitMQ, the S3 server.
    Infra,
    /// The Kafka-protocol server: a stand-in here, reported apart.
    Broker,
}

impl Kind {
    fn of(name: &str) -> Kind {
        match name {
            "tansu" | "kafka" => Kind::Broker,
            "nginx" | "ref-nginx" => Kind::Edge,
            "redis" | "mongo" | "rabbitmq" | "s3" => Kind::Infra,
            n if n.starts_with("ref") => Kind::Reference,
            _ => Kind::Hubbub,
        }
    }
}

/// A watched process.
#[derive(Clone, Debug, Serialize)]
pub struct Proc {
    /// Short name (the pid file's stem).
    pub name: String,
    /// Process id (its descendants are counted too).
    pub pid: u32,
    /// Category.
    pub kind: Kind,
}

/// CPU ticks and RSS of every watched process at one moment.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// name → (CPU ticks, RSS KiB).
    pub by_name: BTreeMap<String, (u64, u64)>,
}

/// Usage of one process over an interval.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Name.
    pub name: String,
    /// Category.
    pub kind: Kind,
    /// CPU seconds used in the interval.
    pub cpu_s: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
}

/// The processes to watch and how to read them.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    /// Watched processes.
    pub procs: Vec<Proc>,
    ticks_per_s: f64,
}

impl Watch {
    /// Collects processes from `name=pid` pairs, pid files in directories, and `name=port`
    /// pairs (the process listening on 127.0.0.1:port).
    pub fn new(pairs: &[String], pid_dirs: &[String], ports: &[String]) -> Self {
        let mut procs = Vec::new();
        for dir in pid_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for path in files {
                if path.extension().is_some_and(|e| e == "pid")
                    && let (Some(stem), Ok(text)) = (path.file_stem(), std::fs::read_to_string(&path))
                    && let Ok(pid) = text.trim().parse::<u32>()
                    && Path::new(&format!("/proc/{pid}")).exists()
                {
                    let name = stem.to_string_lossy().into_owned();
                    procs.push(Proc { kind: Kind::of(&name), name, pid });
                }
            }
        }
        for pair in pairs {
            if let Some((name, pid)) = pair.split_once('=')
                && let Ok(pid) = pid.parse()
            {
                procs.push(Proc { name: name.to_owned(), pid, kind: Kind::of(name) });
            }
        }
        for pair in ports {
            if let Some((name, port)) = pair.split_once('=')
                && let Ok(port) = port.parse()
                && !procs.iter().any(|p| p.name == name)
                && let Some(pid) = listening_pid(port)
            {
                procs.push(Proc { name: name.to_owned(), pid, kind: Kind::of(name) });
            }
        }
        Self { procs, ticks_per_s: clock_ticks() }
    }

    /// Reads every process now.
    pub fn sample(&self) -> Sample {
        let mut by_name = BTreeMap::new();
        for p in &self.procs {
            let tree = descendants(p.pid);
            let cpu = tree.iter().filter_map(|&pid| cpu_ticks(pid)).sum();
            let rss = tree.iter().filter_map(|&pid| rss_kib(pid)).sum();
            by_name.insert(p.name.clone(), (cpu, rss));
        }
        Sample { by_name }
    }

    /// Usage between two samples, per process.
    pub fn usage(&self, from: &Sample, to: &Sample) -> Vec<Usage> {
        self.procs
            .iter()
            .map(|p| {
                let (c0, _) = from.by_name.get(&p.name).copied().unwrap_or_default();
                let (c1, rss) = to.by_name.get(&p.name).copied().unwrap_or_default();
                #[allow(clippy::cast_precision_loss)]
                Usage {
                    name: p.name.clone(),
                    kind: p.kind,
                    cpu_s: c1.saturating_sub(c0) as f64 / self.ticks_per_s,
                    rss_mib: rss as f64 / 1024.0,
                }
            })
            .collect()
    }
}

/// CPU ticks (utime + stime) and RSS of this process, for the load generator's own line.
pub fn own() -> (u64, u64) {
    let pid = std::process::id();
    (cpu_ticks(pid).unwrap_or(0), rss_kib(pid).unwrap_or(0))
}

/// Seconds per clock tick of /proc's CPU counters.
pub fn ticks_per_s() -> f64 {
    clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the command.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and all its descendants.
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                if let Ok(children) = std::fs::read_to_string(t.path().join("children")) {
                    all.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
                }
            }
        }
        i += 1;
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// The process holding a listening TCP socket on `port`.
fn listening_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT, st 0A is LISTEN, inode is the tenth field.
            if f.len() > 9
                && f[3] == "0A"
                && f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
            {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for proc_dir in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = proc_dir.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(fds) = std::fs::read_dir(proc_dir.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| link.as_os_str() == i.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}
