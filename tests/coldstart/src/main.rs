//! Cold start of the functions as Lambda measures it.
//!
//!   tests/local/coldstart.sh [--cold N] [--warm N] [--functions webhook,oauth,...] [--strace DIR]
//!
//! For each function the harness starts its release bootstrap (`$CARGO_TARGET_DIR/release/
//! <function>`, as `cargo build --release -p <function>` leaves it) the way Lambda does: a
//! fresh process with Lambda's environment, the template's variables and
//! `AWS_LAMBDA_RUNTIME_API` pointing at the harness, which plays the Runtime API. It reports:
//!
//! - init: process start → its first `GET /runtime/invocation/next` (Lambda's Init Duration);
//! - first invocation: the first event handed out → its response posted;
//! - warm p50/p99: the same event again, `--warm` times, in the same process;
//! - peak RSS: `VmHWM` of the process after the warm invocations;
//! - bootstrap.zip: the binary zipped as `bootstrap` with deflate, as SAM and cargo-lambda do.
//!
//! Every AWS call goes to the harness's own endpoint (`AWS_ENDPOINT_URL`), which answers
//! canned JSON at once; providers and SAP are the in-process sandboxes (tests/sandbox). So
//! the figures are the function's own work plus loopback round trips, and no TLS: a real
//! Lambda adds the handshakes with AWS and the providers on top.
//!
//! `--strace DIR` also runs each function once under `strace -f -e trace=file,network` and
//! reports which certificate files it opens and which connections it makes, in init and in
//! the first invocation (timings under strace are not reported).

mod aws;
mod functions;
mod runtime;
mod stubs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use aws::AwsEndpoint;
use runtime::{Invocation, Posted, RuntimeApi};

struct Options {
    target_dir: PathBuf,
    functions: Vec<String>,
    cold: usize,
    warm: usize,
    strace: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: coldstart [--target-dir DIR] [--functions a,b,...] [--cold N] [--warm N] [--strace DIR]\n\
         functions: {}",
        functions::ALL.join(", ")
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        target_dir: std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target")),
        functions: functions::ALL.iter().map(|f| (*f).to_owned()).collect(),
        cold: 5,
        warm: 1000,
        strace: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--target-dir" => o.target_dir = PathBuf::from(value()),
            "--functions" => {
                o.functions = value().split(',').map(str::to_owned).collect();
                if o.functions
                    .iter()
                    .any(|f| !functions::ALL.contains(&f.as_str()))
                {
                    usage()
                }
            }
            "--cold" => o.cold = value().parse().unwrap_or_else(|_| usage()),
            "--warm" => o.warm = value().parse().unwrap_or_else(|_| usage()),
            "--strace" => o.strace = Some(PathBuf::from(value())),
            _ => usage(),
        }
    }
    if o.cold == 0 {
        usage()
    }
    o
}

/// What Lambda sets in every execution environment (provided.al2023), besides the
/// function's own variables. Credentials are placeholders: the endpoint checks no signature.
fn lambda_env(
    function: &str,
    memory_mb: u32,
    runtime_api: &str,
    aws_url: &str,
) -> Vec<(String, String)> {
    let name = format!("fitbridge-{function}-Coldstart");
    [
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/21/[$LATEST]0123456789abcdef0123456789abcdef".into(),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "ASIACOLDSTARTHARNESS".into()),
        ("AWS_SECRET_ACCESS_KEY", "coldstart-placeholder".into()),
        ("AWS_SESSION_TOKEN", "coldstart-placeholder".into()),
        ("AWS_ENDPOINT_URL", aws_url.into()),
        ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".into()),
        ("LAMBDA_TASK_ROOT", "/var/task".into()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("_HANDLER", "bootstrap".into()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()),
        (
            "LD_LIBRARY_PATH",
            "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
                .into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// One execution environment's figures.
struct Start {
    init: Duration,
    first: Duration,
    warm: Vec<Duration>,
    rss_kib: Option<u64>,
    calls_init: BTreeMap<String, u64>,
    calls_first: BTreeMap<String, u64>,
    calls_warm: BTreeMap<String, u64>,
    /// Wall-clock marks for splitting a trace: end of init, end of the first invocation.
    marks: (SystemTime, SystemTime),
    /// Which local port is which endpoint.
    ports: Vec<(u16, &'static str)>,
    log_errors: usize,
}

/// The function's output, drained as Lambda's log pipe would be: only counted (it is
/// JSON lines that never carry secrets, but the harness has no need to show them) and the
/// last lines kept for a failure report.
#[derive(Default)]
struct Logs {
    errors: usize,
    tail: Vec<String>,
}

fn drain(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static, logs: Arc<Mutex<Logs>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut logs = logs.lock().unwrap();
            if line.contains(r#""level":"ERROR""#) || line.contains(r#""level":"WARN""#) {
                logs.errors += 1;
            }
            logs.tail.push(line);
            if logs.tail.len() > 8 {
                logs.tail.remove(0);
            }
        }
    });
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn start_once(
    function: &str,
    binary: &Path,
    warm: usize,
    strace_to: Option<&Path>,
) -> Result<Start, String> {
    let sandbox = stubs::Stubs::start()
        .await
        .map_err(|e| format!("sandbox: {e}"))?;
    let setup = functions::setup(function, &sandbox);
    let aws = AwsEndpoint::start(setup.canned)
        .await
        .map_err(|e| format!("AWS endpoint: {e}"))?;
    let mut api = RuntimeApi::start()
        .await
        .map_err(|e| format!("runtime API: {e}"))?;

    let port = |url: &str| {
        url.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    };
    let ports = vec![
        (api.addr.port(), "Runtime API"),
        (port(&aws.url), "AWS endpoint"),
        (port(&sandbox.base_url), "sandbox"),
    ];
    let mut command = match strace_to {
        Some(trace) => {
            let mut c = Command::new("strace");
            c.args(["-f", "-ttt", "-e", "trace=file,network", "-o"])
                .arg(trace)
                .arg(binary);
            c
        }
        None => Command::new(binary),
    };
    command
        .env_clear()
        .envs(lambda_env(
            function,
            setup.memory_mb,
            &api.addr.to_string(),
            &aws.url,
        ))
        .envs(setup.env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(binary.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let logs = Arc::new(Mutex::new(Logs::default()));
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    drain(child.stdout.take().expect("piped"), logs.clone());
    drain(child.stderr.take().expect("piped"), logs.clone());
    let pid = child.id().expect("running");

    let failed = |what: String, logs: &Arc<Mutex<Logs>>| {
        format!(
            "{function}: {what}\n  last output:\n    {}",
            logs.lock().unwrap().tail.join("\n    ")
        )
    };
    let (first_next, init_mark) = match api.first_next(Duration::from_secs(30)).await {
        Ok(at) => at,
        Err(e) => return Err(failed(e, &logs)),
    };
    let init = first_next - started;
    let calls_init = aws.take_calls();

    let mut seq = 0u64;
    let mut invoke = async |api: &mut RuntimeApi| {
        seq += 1;
        let invocation = Invocation {
            id: format!("c0ffee00-0000-4000-8000-{seq:012x}"),
            body: setup.event.clone(),
            timeout: setup.timeout,
            function_arn: format!(
                "arn:aws:lambda:us-east-1:123456789012:function:fitbridge-{function}"
            ),
            seq,
        };
        let outcome = api.invoke(invocation, Duration::from_secs(60)).await?;
        match &outcome.posted {
            Posted::Response(body) => (setup.check)(body)?,
            Posted::Error(body) => return Err(format!("invocation error: {body}")),
            Posted::InitError(body) => return Err(format!("init error: {body}")),
        }
        let handed = outcome.handed_at.ok_or("response for an unknown request")?;
        Ok::<_, String>((outcome.at - handed, outcome.wall))
    };

    let (first, first_mark) = match invoke(&mut api).await {
        Ok(r) => r,
        Err(e) => return Err(failed(e, &logs)),
    };
    let calls_first = aws.take_calls();
    let mut samples = Vec::with_capacity(warm);
    for _ in 0..warm {
        match invoke(&mut api).await {
            Ok((d, _)) => samples.push(d),
            Err(e) => return Err(failed(e, &logs)),
        }
    }
    let calls_warm = aws.take_calls();
    let rss_kib = if strace_to.is_none() {
        vm_hwm_kib(pid)
    } else {
        None
    };
    let _ = child.kill().await;
    samples.sort();
    let log_errors = logs.lock().unwrap().errors;
    Ok(Start {
        init,
        first,
        warm: samples,
        rss_kib,
        calls_init,
        calls_first,
        calls_warm,
        marks: (init_mark, first_mark),
        ports,
        log_errors,
    })
}

/// The binary zipped as `bootstrap` with deflate (Python's zipfile, as SAM zips; `zip` if
/// there is no Python). Bytes.
fn zip_size(binary: &Path, scratch: &Path) -> Result<u64, String> {
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let bootstrap = scratch.join("bootstrap");
    let zip = scratch.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    std::fs::copy(binary, &bootstrap).map_err(|e| e.to_string())?;
    let python = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    \
             z.write(sys.argv[2], 'bootstrap')",
        )
        .arg(&zip)
        .arg(&bootstrap)
        .status();
    let ok = matches!(python, Ok(s) if s.success())
        || matches!(
            std::process::Command::new("zip")
                .args(["-q", "-X", "-j"])
                .arg(&zip)
                .arg(&bootstrap)
                .status(),
            Ok(s) if s.success()
        );
    let size = std::fs::metadata(&zip).map(|m| m.len());
    let _ = std::fs::remove_file(&bootstrap);
    let _ = std::fs::remove_file(&zip);
    match (ok, size) {
        (true, Ok(n)) => Ok(n),
        _ => Err("neither python3 nor zip could zip the bootstrap".into()),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn ms2(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `median (min–max)` when there were several starts.
fn spread(v: &[Duration]) -> String {
    let m = median(v.to_vec());
    if v.len() == 1 {
        return ms(m);
    }
    let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
    format!("{} ({}–{})", ms(m), ms(*lo), ms(*hi))
}

fn calls(c: &BTreeMap<String, u64>, per: usize) -> String {
    if c.is_empty() {
        return "none".into();
    }
    c.iter()
        .map(|(k, n)| {
            if per <= 1 {
                format!("{k} ×{n}")
            } else {
                format!("{k} ×{}", fmt_ratio(*n, per))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_ratio(n: u64, per: usize) -> String {
    let r = n as f64 / per as f64;
    if (r - r.round()).abs() < 1e-9 {
        format!("{}", r.round())
    } else {
        format!("{r:.2}")
    }
}

struct Row {
    function: String,
    event: &'static str,
    starts: Vec<Start>,
    zip: Result<u64, String>,
}

/// What a trace shows, split at the end of init and of the first invocation.
#[derive(Default)]
struct TraceSummary {
    cert_files: [usize; 2],
    connects: [BTreeMap<String, usize>; 2],
}

fn summarise_trace(
    trace: &str,
    marks: (SystemTime, SystemTime),
    ports: &[(u16, &str)],
) -> TraceSummary {
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64()
    };
    let (end_init, end_first) = (secs(marks.0), secs(marks.1));
    let mut summary = TraceSummary::default();
    for line in trace.lines() {
        let mut words = line.split_whitespace();
        let (Some(_pid), Some(at)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(at) = at.parse::<f64>() else { continue };
        let phase = if at < end_init {
            0
        } else if at < end_first {
            1
        } else {
            continue;
        };
        let certs = [
            "/etc/ssl/",
            "/etc/pki/",
            "/usr/lib/ssl/",
            "/usr/share/ca-certificates/",
        ];
        if (line.contains("openat(") || line.contains(" open("))
            && certs.iter().any(|c| line.contains(&format!("\"{c}")))
        {
            summary.cert_files[phase] += 1;
        }
        if let Some(rest) = line.split("connect(").nth(1) {
            if let Some(port) = rest
                .split("htons(")
                .nth(1)
                .and_then(|p| p.split(')').next())
                .and_then(|p| p.parse::<u16>().ok())
            {
                let name = ports
                    .iter()
                    .find(|(p, _)| *p == port)
                    .map(|(_, n)| (*n).to_owned())
                    .unwrap_or_else(|| format!("port {port}"));
                *summary.connects[phase].entry(name).or_default() += 1;
            }
        }
    }
    summary
}

async fn strace_run(function: &str, binary: &Path, dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let trace = dir.join(format!("{function}.strace"));
    let start = start_once(function, binary, 3, Some(&trace)).await?;
    let text = std::fs::read_to_string(&trace).map_err(|e| e.to_string())?;
    let summary = summarise_trace(&text, start.marks, &start.ports);
    let show = |m: &BTreeMap<String, usize>| {
        if m.is_empty() {
            return "0".to_owned();
        }
        m.iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(format!(
        "| {function} | {} | {} | {} | {} | {} |",
        summary.cert_files[0],
        show(&summary.connects[0]),
        summary.cert_files[1],
        show(&summary.connects[1]),
        trace.display()
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let release = o.target_dir.join("release");
    let scratch = std::env::temp_dir().join(format!("fitbridge-coldstart-{}", std::process::id()));
    let mut rows = Vec::new();
    for function in &o.functions {
        let binary = release.join(function);
        if !binary.is_file() {
            eprintln!(
                "error: {} missing; build it with `cargo build --release -p {function}`",
                binary.display()
            );
            std::process::exit(1);
        }
        let mut starts = Vec::new();
        for i in 0..o.cold {
            // Only the last start runs the warm invocations.
            let warm = if i + 1 == o.cold { o.warm } else { 0 };
            match start_once(function, &binary, warm, None).await {
                Ok(s) => starts.push(s),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
        }
        eprintln!("{function}: measured");
        rows.push(Row {
            function: function.clone(),
            event: functions::event_name(function),
            starts,
            zip: zip_size(&binary, &scratch),
        });
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!(
        "Cold start as Lambda measures it: {} cold start(s) per function (median, min–max), \
         {} warm invocations in the last one. Milliseconds.\n",
        o.cold, o.warm
    );
    println!("| function | init | first invocation | init + first | warm p50 | warm p99 | peak RSS | bootstrap.zip |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let last = r.starts.last().expect("a start");
        let (p50, p99) = if last.warm.is_empty() {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                ms2(percentile(&last.warm, 0.5)),
                ms2(percentile(&last.warm, 0.99)),
            )
        };
        let sum: Vec<Duration> = r.starts.iter().map(|s| s.init + s.first).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.function,
            spread(&r.starts.iter().map(|s| s.init).collect::<Vec<_>>()),
            spread(&r.starts.iter().map(|s| s.first).collect::<Vec<_>>()),
            spread(&sum),
            p50,
            p99,
            r.starts
                .iter()
                .filter_map(|s| s.rss_kib)
                .max()
                .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
            match &r.zip {
                Ok(n) => format!("{:.2} MiB", *n as f64 / 1048576.0),
                Err(e) => e.clone(),
            }
        );
    }
    println!("\nEvents, and the AWS calls the harness's endpoint answered (AWS_ENDPOINT_URL on 127.0.0.1, canned JSON, no delay):\n");
    println!("| function | event | AWS calls in init | AWS calls, first invocation | AWS calls per warm invocation | warnings/errors logged |");
    println!("|---|---|---|---|---|---:|");
    for r in &rows {
        let last = r.starts.last().expect("a start");
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.function,
            r.event,
            calls(&last.calls_init, 1),
            calls(&last.calls_first, 1),
            if last.warm.is_empty() {
                "-".into()
            } else {
                calls(&last.calls_warm, last.warm.len())
            },
            r.starts.iter().map(|s| s.log_errors).sum::<usize>()
        );
    }
    println!(
        "\nProviders (Fitbit, Google) and SAP: the in-process sandboxes of tests/sandbox on 127.0.0.1 \
         (the worker fetches from Fitbit and imports into SAP; token-refresh calls Fitbit's token endpoint). \
         Plain HTTP on loopback: no TLS handshakes, no network latency, and one host:port for every \
         AWS service (a connection opened for one service is reused for another, which real \
         endpoints do not allow)."
    );

    if let Some(dir) = &o.strace {
        println!(
            "\nUnder `strace -f -e trace=file,network` (one start, timings not comparable):\n"
        );
        println!("| function | CA files opened in init | connections in init | CA files opened in first invocation | connections in first invocation | trace |");
        println!("|---|---:|---:|---:|---:|---|");
        for function in &o.functions {
            match strace_run(function, &release.join(function), dir).await {
                Ok(line) => println!("{line}"),
                Err(e) => println!("| {function} | {e} | | | | |"),
            }
        }
    }
}
