//! Network namespaces and veth pairs for traffic tests, named uniquely with
//! this process's id, checked before creation, and removed on drop (also
//! when a test fails or panics).

use std::{
    fs::File,
    os::fd::AsRawFd as _,
    process::{Command, Output},
};

use anyhow::{bail, Context as _};

/// Runs `ip` with `args` and fails with its error output.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    check(&out, &format!("ip {}", args.join(" ")))
}

fn check(out: &Output, what: &str) -> anyhow::Result<()> {
    if !out.status.success() {
        bail!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// A name unique to this process: `<prefix><pid><tag>`.
pub fn unique(prefix: &str, tag: &str) -> String {
    format!("{prefix}{}{tag}", std::process::id())
}

/// A network namespace that is deleted on drop.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

fn namespace_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

impl Namespace {
    /// Creates `vt<pid><tag>`; fails if it already exists.
    pub fn create(tag: &str) -> anyhow::Result<Namespace> {
        let name = unique("vt", tag);
        if namespace_exists(&name) {
            bail!("network namespace {name} already exists; refusing to reuse it");
        }
        ip(&["netns", "add", &name])?;
        let ns = Namespace { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> args`.
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// A command run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// A command that enters only this namespace's network, keeping the
    /// host's mount namespace (so bpffs pins are shared): how the agent runs.
    pub fn net_command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", self.name))
            .arg(program);
        command
    }

    /// Sets a sysctl inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> anyhow::Result<()> {
        let out = self
            .command("sysctl")
            .args(["-q", "-w", &format!("{key}={value}")])
            .output()?;
        check(&out, &format!("sysctl {key}={value} in {}", self.name))
    }

    /// Runs `f` on a thread whose network namespace is this one, so the
    /// sockets it opens live here.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let path = format!("/run/netns/{}", self.name);
        let handle = std::thread::spawn(move || -> anyhow::Result<T> {
            enter(&path)?;
            Ok(f())
        });
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("thread in namespace panicked"))?
    }

    /// Like [`Namespace::run`] but returns the thread's handle at once.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<anyhow::Result<T>> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || -> anyhow::Result<T> {
            enter(&path)?;
            Ok(f())
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &str) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {path}"))?;
    // SAFETY: setns on a valid namespace descriptor affects only this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!("setns({path}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace removes the veth ends inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Creates a veth pair with one end in each namespace (names at most 15 bytes).
pub fn veth(a: &Namespace, a_name: &str, b: &Namespace, b_name: &str) -> anyhow::Result<()> {
    for name in [a_name, b_name] {
        if name.len() > 15 {
            bail!("interface name {name} is longer than 15 bytes");
        }
    }
    ip(&[
        "link",
        "add",
        a_name,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_name,
        "netns",
        b.name(),
    ])?;
    a.ip(&["link", "set", a_name, "up"])?;
    b.ip(&["link", "set", b_name, "up"])?;
    Ok(())
}
