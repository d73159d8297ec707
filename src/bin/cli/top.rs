//! `ferrocache-cli top`: a live view of one node or a whole ring, from
//! `stats` (any memcached) and `stats hotkeys` (ferrocache's extension).
//!
//! A sampling thread polls every node once per interval and sends frames
//! to the drawing loop, which also reads keys (`q` quits) and resize
//! events, so a node that does not answer delays neither: it shows as down
//! once its poll fails or times out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrocache::client::Client;

/// One hot key as a node reported it.
#[derive(Debug, Clone)]
pub struct Hot {
    pub key: String,
    pub node: String,
    pub ops: f64,
    pub reads: f64,
    pub writes: f64,
    pub miss_share: f64,
}

/// One node's poll.
#[derive(Debug, Clone)]
struct Poll {
    node: String,
    at: Instant,
    stats: Result<HashMap<String, String>, String>,
    /// `None`: the node has no `stats hotkeys` (memcached) or it is off.
    hot: Option<Vec<Hot>>,
}

/// One node's row of a frame.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub node: String,
    pub up: bool,
    pub error: Option<String>,
    pub ops: Option<f64>,
    pub gets: Option<f64>,
    pub sets: Option<f64>,
    pub hit_ratio: Option<f64>,
    pub evictions: Option<f64>,
    pub read_bytes: Option<f64>,
    pub written_bytes: Option<f64>,
    /// Counters and gauges as `stats` gave them.
    pub raw: Vec<(&'static str, u64)>,
    pub hot_keys: bool,
}

/// What one refresh shows.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub number: u64,
    pub unix_time: f64,
    pub rows: Vec<Row>,
    pub hot: Vec<Hot>,
}

/// The `stats` fields shown raw (and in `--json`).
const RAW: [&str; 12] = [
    "curr_connections",
    "bytes",
    "limit_maxbytes",
    "curr_items",
    "cmd_get",
    "cmd_set",
    "get_hits",
    "get_misses",
    "evictions",
    "bytes_read",
    "bytes_written",
    "uptime",
];

fn poll(client: &Client) -> Vec<Poll> {
    let at = Instant::now();
    let stats = client.stats(None);
    let hot = client.stats(Some("hotkeys"));
    stats
        .into_iter()
        .map(|(spec, r)| {
            let node = spec.to_string();
            let hot = hot
                .iter()
                .find(|(s, _)| s.to_string() == node)
                .and_then(|(_, r)| r.as_ref().ok())
                .and_then(|lines| hot_list(&node, lines));
            Poll {
                at,
                stats: r
                    .map(|v| v.into_iter().collect())
                    .map_err(|e| e.to_string()),
                hot,
                node,
            }
        })
        .collect()
}

/// A node's `stats hotkeys` lines as a list (`None`: not a list).
fn hot_list(node: &str, lines: &[(String, String)]) -> Option<Vec<Hot>> {
    let get = |name: String| lines.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    let n: usize = get("hot_keys".into())?.parse().ok()?;
    let num = |r: usize, f: &str| -> f64 {
        get(format!("hotkey:{r}:{f}"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Some(
        (1..=n)
            .filter_map(|r| {
                Some(Hot {
                    key: get(format!("hotkey:{r}:key"))?.clone(),
                    node: node.to_string(),
                    ops: num(r, "ops"),
                    reads: num(r, "reads"),
                    writes: num(r, "writes"),
                    miss_share: num(r, "miss_share"),
                })
            })
            .collect(),
    )
}

/// A frame from this poll and the one before (for the rates).
fn frame(number: u64, now: &[Poll], before: &[Poll], keys: usize) -> Frame {
    let mut rows = Vec::new();
    let mut hot = Vec::new();
    for p in now {
        let mut row = Row {
            node: p.node.clone(),
            ..Row::default()
        };
        match &p.stats {
            Err(e) => row.error = Some(e.clone()),
            Ok(stats) => {
                row.up = true;
                let val = |s: &HashMap<String, String>, k: &str| -> Option<u64> {
                    s.get(k)?.parse().ok()
                };
                row.raw = RAW
                    .iter()
                    .filter_map(|&k| Some((k, val(stats, k)?)))
                    .collect();
                let prev = before
                    .iter()
                    .find(|b| b.node == p.node)
                    .and_then(|b| Some((b.at, b.stats.as_ref().ok()?)));
                if let Some((at, old)) = prev {
                    let secs = p.at.duration_since(at).as_secs_f64();
                    let rate = |k: &str| -> Option<f64> {
                        let (a, b) = (val(old, k)?, val(stats, k)?);
                        (secs > 0.0 && b >= a).then(|| (b - a) as f64 / secs)
                    };
                    row.gets = rate("cmd_get");
                    row.sets = rate("cmd_set");
                    row.ops = Some(row.gets.unwrap_or(0.0) + row.sets.unwrap_or(0.0));
                    row.evictions = rate("evictions");
                    row.read_bytes = rate("bytes_read");
                    row.written_bytes = rate("bytes_written");
                    let hits = rate("get_hits");
                    let misses = rate("get_misses");
                    row.hit_ratio = match (hits, misses) {
                        (Some(h), Some(m)) if h + m > 0.0 => Some(h / (h + m)),
                        _ => None,
                    };
                }
                if let Some(list) = &p.hot {
                    row.hot_keys = true;
                    hot.extend(list.iter().cloned());
                }
            }
        }
        rows.push(row);
    }
    hot.sort_by(|a, b| b.ops.total_cmp(&a.ops).then_with(|| a.key.cmp(&b.key)));
    hot.truncate(keys);
    Frame {
        number,
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        rows,
        hot,
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}", (v * 1000.0).round() / 1000.0),
        _ => "null".into(),
    }
}

/// One frame as one line of JSON.
pub fn to_json(f: &Frame) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"frame\":{},\"time\":{},\"nodes\":[",
        f.number,
        json_num(Some(f.unix_time))
    );
    for (i, r) in f.rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"node\":{},\"up\":{},\"error\":{},\"ops_per_sec\":{},\"gets_per_sec\":{},\"sets_per_sec\":{},\"hit_ratio\":{},\"evictions_per_sec\":{},\"bytes_read_per_sec\":{},\"bytes_written_per_sec\":{},\"hot_keys\":{}",
            json_str(&r.node),
            r.up,
            r.error.as_deref().map_or("null".into(), json_str),
            json_num(r.ops),
            json_num(r.gets),
            json_num(r.sets),
            json_num(r.hit_ratio),
            json_num(r.evictions),
            json_num(r.read_bytes),
            json_num(r.written_bytes),
            r.hot_keys,
        );
        for (k, v) in &r.raw {
            let _ = write!(s, ",\"{k}\":{v}");
        }
        s.push('}');
    }
    s.push_str("],\"hot_keys\":[");
    for (i, h) in f.hot.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"key\":{},\"node\":{},\"ops_per_sec\":{},\"reads_per_sec\":{},\"writes_per_sec\":{},\"miss_share\":{}}}",
            json_str(&h.key),
            json_str(&h.node),
            json_num(Some(h.ops)),
            json_num(Some(h.reads)),
            json_num(Some(h.writes)),
            json_num(Some(h.miss_share)),
        );
    }
    s.push_str("]}");
    s
}

fn human(v: f64) -> String {
    let units = ["", "k", "M", "G", "T"];
    let mut v = v;
    let mut u = 0;
    while v.abs() >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}{}", units[u])
    }
}

fn bytes(v: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0}B")
    } else {
        format!("{v:.1}{}", units[u])
    }
}

/// The frame as text lines, cut to `width` columns and `height` lines.
pub fn to_lines(f: &Frame, width: usize, height: usize) -> Vec<String> {
    let opt = |v: Option<f64>, fmt: fn(f64) -> String| v.map_or("-".to_string(), fmt);
    let up = f.rows.iter().filter(|r| r.up).count();
    let clock = {
        let secs = f.unix_time as u64 % 86_400;
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    };
    let mut lines = vec![
        format!(
            "ferrocache-cli top - {} node(s), {} up - {} UTC - frame {} - q quits",
            f.rows.len(),
            up,
            clock,
            f.number
        ),
        String::new(),
    ];
    let node_w = f
        .rows
        .iter()
        .map(|r| r.node.len())
        .max()
        .unwrap_or(4)
        .max(4);
    lines.push(format!(
        "{:<node_w$} {:<6} {:>8} {:>8} {:>8} {:>6} {:>6} {:>19} {:>8} {:>9} {:>9}",
        "NODE",
        "STATE",
        "OPS/s",
        "GETS/s",
        "SETS/s",
        "HIT%",
        "CONNS",
        "MEM USED/LIMIT",
        "EVICT/s",
        "IN/s",
        "OUT/s"
    ));
    for r in &f.rows {
        if !r.up {
            lines.push(format!(
                "{:<node_w$} {:<6} {}",
                r.node,
                "DOWN",
                r.error.as_deref().unwrap_or("")
            ));
            continue;
        }
        let raw = |k: &str| r.raw.iter().find(|(n, _)| *n == k).map(|(_, v)| *v as f64);
        let mem = match (raw("bytes"), raw("limit_maxbytes")) {
            (Some(b), Some(l)) if l > 0.0 => {
                format!("{}/{} {:>3.0}%", bytes(b), bytes(l), 100.0 * b / l)
            }
            _ => "-".into(),
        };
        lines.push(format!(
            "{:<node_w$} {:<6} {:>8} {:>8} {:>8} {:>6} {:>6} {:>19} {:>8} {:>9} {:>9}",
            r.node,
            "up",
            opt(r.ops, human),
            opt(r.gets, human),
            opt(r.sets, human),
            opt(r.hit_ratio, |h| format!("{:.1}", h * 100.0)),
            opt(raw("curr_connections"), human),
            mem,
            opt(r.evictions, human),
            opt(r.read_bytes, bytes),
            opt(r.written_bytes, bytes),
        ));
    }
    lines.push(String::new());
    if f.rows.iter().any(|r| r.hot_keys) {
        lines.push("HOT KEYS (estimated over the nodes' windows, hottest first)".into());
        lines.push(format!(
            "{:>4} {:>8} {:>8} {:>8} {:>6} {:<node_w$} KEY",
            "RANK", "OPS/s", "READS/s", "WRITES/s", "MISS%", "NODE"
        ));
        for (i, h) in f.hot.iter().enumerate() {
            lines.push(format!(
                "{:>4} {:>8} {:>8} {:>8} {:>6.1} {:<node_w$} {}",
                i + 1,
                human(h.ops),
                human(h.reads),
                human(h.writes),
                h.miss_share * 100.0,
                h.node,
                h.key
            ));
        }
    } else {
        lines.push("(no node reports hot keys: `stats hotkeys` is ferrocache's)".into());
    }
    lines.truncate(height.max(1));
    for l in &mut lines {
        if l.chars().count() > width {
            *l = l.chars().take(width).collect();
        }
    }
    lines
}

/// Options of `top`.
pub struct Top {
    pub once: bool,
    pub json: bool,
    pub interval: Duration,
    pub keys: usize,
}

/// Run `top` until `q` (or, with `--once`, for one frame).
pub fn run(client: Client, opts: Top) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<Frame>();
    let interval = opts.interval;
    let keys = opts.keys;
    let once = opts.once;
    std::thread::spawn(move || {
        let mut before = Vec::new();
        let mut number = 0u64;
        if once {
            // Rates need two polls.
            before = poll(&client);
            std::thread::sleep(interval);
        }
        loop {
            let started = Instant::now();
            let now = poll(&client);
            number += 1;
            if tx.send(frame(number, &now, &before, keys)).is_err() || once {
                return;
            }
            before = now;
            if let Some(rest) = interval.checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
        }
    });
    let mut out = std::io::stdout();
    let live = !opts.once && !opts.json && out.is_terminal();
    if !live {
        for f in rx {
            if opts.json {
                writeln!(out, "{}", to_json(&f))?;
            } else {
                for l in to_lines(&f, usize::MAX, usize::MAX) {
                    writeln!(out, "{l}")?;
                }
                writeln!(out)?;
            }
            out.flush()?;
            if opts.once {
                break;
            }
        }
        return Ok(());
    }
    screen(rx)
}

/// Restores the terminal however the view ends.
struct Screen;

impl Drop for Screen {
    fn drop(&mut self) {
        use crossterm::{cursor, execute, terminal};
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

fn screen(rx: mpsc::Receiver<Frame>) -> std::io::Result<()> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use crossterm::{cursor, execute, queue, style, terminal};
    let mut out = std::io::stdout();
    terminal::enable_raw_mode()?;
    let _restore = Screen;
    execute!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
    let mut last: Option<Frame> = None;
    let mut dirty = true;
    loop {
        while let Ok(f) = rx.try_recv() {
            last = Some(f);
            dirty = true;
        }
        if dirty {
            let (w, h) = terminal::size()?;
            queue!(out, terminal::Clear(terminal::ClearType::All))?;
            let lines = match &last {
                Some(f) => to_lines(f, w as usize, h as usize),
                None => vec!["ferrocache-cli top - polling...".into()],
            };
            for (i, l) in lines.iter().enumerate() {
                queue!(out, cursor::MoveTo(0, i as u16), style::Print(l))?;
            }
            out.flush()?;
            dirty = false;
        }
        if event::poll(Duration::from_millis(100))? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => match k.code {
                    KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(())
                    }
                    _ => {}
                },
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
}
