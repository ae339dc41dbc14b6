//! `cargo xtask lab` cleans up however it is stopped, not only on Ctrl-C:
//! when its terminal closes (the kernel hangs it up, the shell sends SIGHUP
//! to the job) and when only xtask gets a SIGTERM. Each test runs the real
//! xtask and lab (`xtask lab --no-build -- --seconds 120`), waits until the
//! lab's namespaces exist and its screen is up, stops it, and checks that
//! every namespace, interface, pin and directory the lab made is gone and no
//! process it started is left. Only names carrying the lab's pid are touched.
//!
//! They need the binaries built beside `vantage`: `cargo xtask test` builds
//! them all; by hand, `cargo build -p xtask -p vantage-tests -p sensor-user
//! -p vantage-fleet --bins` (an old `xtask` does not know `--no-build`).

use std::{
    fs::File,
    io::Read as _,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::process::CommandExt as _,
    },
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use vantage_tests::{agent::vantage_bin, harness::require_root};

type Result = anyhow::Result<()>;

/// How long the lab may take to come up (site, collector, agent).
const START_DEADLINE: Duration = Duration::from_secs(120);
/// How long the lab may take to remove everything once told to stop.
const STOP_DEADLINE: Duration = Duration::from_secs(60);

/// A binary beside `vantage` (same target directory), or `$env`.
fn sibling_bin(name: &str, env: &str, build: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let candidate = vantage_bin()?.with_file_name(name);
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!("cannot find {name}: build it (`{build}`) or set {env}")
}

/// Where `xtask` is: `$VANTAGE_XTASK_BIN`, else beside `vantage`.
fn xtask_bin() -> anyhow::Result<PathBuf> {
    sibling_bin("xtask", "VANTAGE_XTASK_BIN", "cargo build -p xtask")
}

/// Where `vantage-lab` is: `$VANTAGE_LAB_BIN`, else beside `vantage`.
fn lab_bin() -> anyhow::Result<PathBuf> {
    sibling_bin(
        "vantage-lab",
        "VANTAGE_LAB_BIN",
        "cargo build -p vantage-tests --bins",
    )
}

/// A process as /proc shows it.
#[derive(Debug, Clone, PartialEq)]
struct Process {
    pid: i32,
    ppid: i32,
    state: char,
    /// Clock ticks after boot: tells a process from a later one with its pid.
    start: u64,
    comm: String,
    cmdline: String,
}

fn process(pid: i32) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, tail) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = tail.split_whitespace().collect();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default();
    Some(Process {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        state: fields.first()?.chars().next()?,
        start: fields.get(19)?.parse().ok()?,
        comm,
        cmdline: cmdline.trim_end().to_string(),
    })
}

fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(process)
        .collect()
}

/// Every process below `root` (children, their children, ...).
fn descendants(root: i32) -> Vec<Process> {
    let all = processes();
    let mut found: Vec<Process> = Vec::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for p in all.iter().filter(|p| p.ppid == parent) {
            parents.push(p.pid);
            found.push(p.clone());
        }
    }
    found
}

/// Still running (a zombie has finished; a new process may reuse the pid).
fn still_running(p: &Process) -> bool {
    process(p.pid).is_some_and(|now| now.start == p.start && now.state != 'Z')
}

fn netns_list() -> anyhow::Result<Vec<String>> {
    let out = Command::new("ip").args(["netns", "list"]).output()?;
    if !out.status.success() {
        bail!("ip netns list: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect())
}

fn host_links() -> anyhow::Result<Vec<String>> {
    let out = Command::new("ip").args(["-o", "link", "show"]).output()?;
    if !out.status.success() {
        bail!("ip link show: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|name| name.trim().split('@').next().unwrap_or("").to_string())
        .collect())
}

/// What a lab with process id `pid` makes, named as `site.rs`, `netns.rs`,
/// `agent.rs` and `fleet.rs` name them.
struct LabNames {
    pid: i32,
    namespaces: Vec<String>,
    /// Veth and bridge names start with one of these (`v<pid>lb...`, `b<pid>lb`).
    link_prefixes: [String; 2],
    dirs: Vec<PathBuf>,
    /// Text in the command line of a process the lab started.
    markers: Vec<String>,
}

impl LabNames {
    fn new(pid: i32) -> LabNames {
        let tmp = std::env::temp_dir();
        LabNames {
            pid,
            namespaces: ["sw", "gw", "in", "c0", "c1", "c2"]
                .iter()
                .map(|tag| format!("vt{pid}lb{tag}"))
                .collect(),
            link_prefixes: [format!("v{pid}lb"), format!("b{pid}lb")],
            dirs: vec![
                Path::new("/sys/fs/bpf").join(format!("vantage-test-{pid}-lab")),
                tmp.join(format!("vantage-test-{pid}-lab")),
                tmp.join(format!("vantage-fleet-test-{pid}-lab")),
            ],
            markers: vec![
                format!("vantage-test-{pid}-lab"),
                format!("vantage-fleet-test-{pid}-lab"),
                format!("vt{pid}lb"),
            ],
        }
    }

    fn existing_namespaces(&self) -> anyhow::Result<Vec<String>> {
        Ok(netns_list()?
            .into_iter()
            .filter(|n| self.namespaces.contains(n))
            .collect())
    }

    /// Everything of this lab still there, described; empty once all is gone.
    fn leftovers(&self, started: &[Process]) -> anyhow::Result<Vec<String>> {
        let mut left = Vec::new();
        for ns in self.existing_namespaces()? {
            left.push(format!("namespace {ns}"));
        }
        for link in host_links()? {
            if self.link_prefixes.iter().any(|p| link.starts_with(p)) {
                left.push(format!("host interface {link}"));
            }
        }
        for dir in &self.dirs {
            if dir.exists() {
                left.push(format!("directory {}", dir.display()));
            }
        }
        for p in started.iter().filter(|p| still_running(p)) {
            left.push(format!("process {} ({}): {}", p.pid, p.comm, p.cmdline));
        }
        for p in processes() {
            let ours = self.markers.iter().any(|m| p.cmdline.contains(m.as_str()));
            if ours && p.state != 'Z' && !started.iter().any(|s| s.pid == p.pid) {
                left.push(format!("process {} ({}): {}", p.pid, p.comm, p.cmdline));
            }
        }
        Ok(left)
    }
}

/// What the lab printed, collected from a file or a terminal.
enum Screen {
    File(PathBuf),
    Terminal(Arc<Mutex<Vec<u8>>>),
}

impl Screen {
    fn text(&self) -> String {
        match self {
            Screen::File(path) => std::fs::read(path)
                .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                .unwrap_or_default(),
            Screen::Terminal(buffer) => buffer
                .lock()
                .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                .unwrap_or_default(),
        }
    }

    /// The end of what was printed, for failure messages.
    fn tail(&self) -> String {
        let text = self.text();
        let start = text.len().saturating_sub(3000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_string()
    }
}

/// A pseudo-terminal whose master side is read by a thread until
/// [`Terminal::close`], which closes it: the lab's terminal is then gone.
struct Terminal {
    slave: OwnedFd,
    output: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    fn open() -> anyhow::Result<Terminal> {
        // Close-on-exec from the start: only the lab's stdio may hold the
        // terminal, so that closing the master hangs it up.
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        // SAFETY: posix_openpt has no preconditions.
        let master = unsafe { libc::posix_openpt(flags) };
        if master < 0 {
            bail!("posix_openpt: {}", std::io::Error::last_os_error());
        }
        // SAFETY: `master` was just opened and is owned only here.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        // SAFETY: unlockpt and TIOCGPTPEER on the master we own.
        let slave = unsafe {
            if libc::unlockpt(master.as_raw_fd()) != 0 {
                bail!("unlockpt: {}", std::io::Error::last_os_error());
            }
            libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags)
        };
        if slave < 0 {
            bail!("TIOCGPTPEER: {}", std::io::Error::last_os_error());
        }
        // SAFETY: `slave` was just opened and is owned only here.
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let output = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, halt) = (output.clone(), stop.clone());
        let reader = std::thread::spawn(move || {
            let mut master = File::from(master);
            let mut buf = [0u8; 4096];
            while !halt.load(Ordering::SeqCst) {
                let mut poll = libc::pollfd {
                    fd: master.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut poll, 1, 100) } <= 0 {
                    continue;
                }
                match master.read(&mut buf) {
                    Ok(0) | Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    Ok(n) => {
                        if let Ok(mut out) = out.lock() {
                            out.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
            // Dropping `master` here closes the terminal's last master descriptor.
        });
        Ok(Terminal {
            slave,
            output,
            stop,
            reader: Some(reader),
        })
    }

    fn stdio(&self) -> anyhow::Result<Stdio> {
        Ok(Stdio::from(self.slave.try_clone()?))
    }

    /// Closes the master side: the kernel hangs the terminal up, sends SIGHUP
    /// to its session leader, and reads and writes on it fail from now on.
    fn close(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.close();
    }
}

/// A running `xtask lab` and its `vantage-lab`.
struct RunningLab {
    xtask: Child,
    screen: Screen,
    names: LabNames,
    /// xtask's descendants (lab, agent, collector, ...) once the lab is up.
    started: Vec<Process>,
}

/// The command that starts the lab as `cargo xtask lab` does, without building.
fn xtask_lab() -> anyhow::Result<Command> {
    let lab = lab_bin()?;
    let xtask = xtask_bin()?;
    if xtask.parent() != lab.parent() {
        bail!(
            "xtask runs the vantage-lab beside it, not {}: set neither or both of VANTAGE_XTASK_BIN and VANTAGE_LAB_BIN to one directory",
            lab.display()
        );
    }
    let mut command = Command::new(xtask);
    command.args(["lab", "--no-build", "--", "--seconds", "120"]);
    Ok(command)
}

/// Restores the default for SIGHUP (a `nohup`ed test run would pass its
/// SIG_IGN on, and the lab keeps an ignored hangup ignored).
fn default_sighup() -> std::io::Result<()> {
    // SAFETY: signal is async-signal-safe.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_DFL) };
    Ok(())
}

impl RunningLab {
    /// Starts xtask in its own process group, its output in a file.
    fn start() -> anyhow::Result<RunningLab> {
        let log = std::env::temp_dir().join(format!("vantage-lab-test-{}.log", std::process::id()));
        let file = File::create(&log)?;
        let mut command = xtask_lab()?;
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .process_group(0);
        // SAFETY: the closure only calls signal, which is async-signal-safe.
        unsafe { command.pre_exec(default_sighup) };
        let xtask = command.spawn().context("starting xtask lab")?;
        RunningLab::wait_until_up(xtask, Screen::File(log))
    }

    /// Starts xtask as a session leader with `terminal` as its controlling
    /// terminal, as a shell in a terminal window would run it.
    fn start_on(terminal: &Terminal) -> anyhow::Result<RunningLab> {
        let mut command = xtask_lab()?;
        command
            .stdin(terminal.stdio()?)
            .stdout(terminal.stdio()?)
            .stderr(terminal.stdio()?);
        // SAFETY: setsid, ioctl and signal are async-signal-safe; stdin is
        // already the terminal when the closure runs.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                default_sighup()
            })
        };
        let xtask = command.spawn().context("starting xtask lab")?;
        RunningLab::wait_until_up(xtask, Screen::Terminal(terminal.output.clone()))
    }

    fn wait_until_up(xtask: Child, screen: Screen) -> anyhow::Result<RunningLab> {
        let mut lab = RunningLab {
            xtask,
            screen,
            names: LabNames::new(0),
            started: Vec::new(),
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = lab.xtask.try_wait()? {
                bail!("xtask lab exited early ({status}):\n{}", lab.screen.tail());
            }
            if lab.names.pid == 0 {
                if let Some(p) = descendants(lab.xtask_pid()?)
                    .into_iter()
                    .find(|p| p.comm == "vantage-lab")
                {
                    lab.names = LabNames::new(p.pid);
                }
            }
            if lab.names.pid != 0
                && lab.names.existing_namespaces()?.len() == lab.names.namespaces.len()
                && lab.screen.text().contains("Vantage lab:")
            {
                lab.started = descendants(lab.xtask_pid()?);
                return Ok(lab);
            }
            if Instant::now() > deadline {
                bail!(
                    "the lab was not up within {START_DEADLINE:?} (lab pid {}):\n{}",
                    lab.names.pid,
                    lab.screen.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn xtask_pid(&self) -> anyhow::Result<i32> {
        Ok(i32::try_from(self.xtask.id())?)
    }

    /// The processes the lab started, by name, to check the test saw them.
    fn started_names(&self) -> Vec<&str> {
        self.started.iter().map(|p| p.comm.as_str()).collect()
    }

    /// Waits for xtask to exit, then for everything of the lab to be gone.
    fn wait_until_clean(&mut self) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + STOP_DEADLINE;
        let status = loop {
            if let Some(status) = self.xtask.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                bail!(
                    "xtask lab did not exit within {STOP_DEADLINE:?}; still there: {:#?}\n{}",
                    self.names.leftovers(&self.started)?,
                    self.screen.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        loop {
            let left = self.names.leftovers(&self.started)?;
            if left.is_empty() {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "xtask lab exited ({status}) but left behind: {left:#?}\n{}",
                    self.screen.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RunningLab {
    /// After a failure, removes what is left of this lab (and nothing else).
    fn drop(&mut self) {
        // xtask's pid is its own only until it is reaped: look below it only before.
        let mut left = match (self.xtask.try_wait(), i32::try_from(self.xtask.id())) {
            (Ok(None), Ok(pid)) => descendants(pid),
            _ => Vec::new(),
        };
        left.extend(self.started.iter().cloned());
        for p in left.iter().filter(|p| still_running(p)) {
            // SAFETY: `p` is one of the processes this test started (its start time matches).
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
        }
        let _ = self.xtask.kill();
        let _ = self.xtask.wait();
        if self.names.pid != 0 {
            for ns in self.names.existing_namespaces().unwrap_or_default() {
                let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            }
            for dir in &self.names.dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        if let Screen::File(log) = &self.screen {
            let _ = std::fs::remove_file(log);
        }
    }
}

fn signal(pid: i32, signal: libc::c_int) -> Result {
    // SAFETY: kill has no memory-safety preconditions; `pid` is this test's xtask or its group.
    if unsafe { libc::kill(pid, signal) } != 0 {
        bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn assert_started_everything(lab: &RunningLab) {
    let names = lab.started_names();
    for expected in ["vantage-lab", "vantage", "vantage-fleet"] {
        assert!(
            names.contains(&expected),
            "{expected} is not among the lab's processes {names:?}"
        );
    }
}

#[test]
fn closing_the_terminal_removes_everything_the_lab_made() -> Result {
    require_root();
    let mut terminal = Terminal::open()?;
    let mut lab = RunningLab::start_on(&terminal)?;
    assert_started_everything(&lab);
    // The terminal window closes: the kernel hangs the terminal up (SIGHUP to
    // xtask, its session leader) and the shell sends SIGHUP to the whole job.
    terminal.close();
    signal(-lab.xtask_pid()?, libc::SIGHUP)?;
    let status = lab.wait_until_clean()?;
    assert!(
        status.success(),
        "xtask lab should exit as the lab does after its clean-up, 0: {status}\n{}",
        lab.screen.tail()
    );
    Ok(())
}

#[test]
fn sigterm_to_xtask_alone_removes_everything_the_lab_made() -> Result {
    require_root();
    let mut lab = RunningLab::start()?;
    assert_started_everything(&lab);
    signal(lab.xtask_pid()?, libc::SIGTERM)?;
    let status = lab.wait_until_clean()?;
    assert!(
        status.success(),
        "xtask lab should exit as the lab does after its clean-up, 0: {status}\n{}",
        lab.screen.tail()
    );
    let screen = lab.screen.text();
    assert!(
        screen.contains("removed the lab site"),
        "the lab did not finish its clean-up:\n{}",
        lab.screen.tail()
    );
    Ok(())
}
