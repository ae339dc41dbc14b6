//! `vantage run`: resolves the settings and runs the agent on a tokio
//! runtime until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vantage::{
    agent::{self, detection::DetectionSettings, AgentOptions},
    datapath::PinLayout,
    net::Cidr,
    time::SystemClock,
};

use super::{args::RunArgs, load_config};

pub(super) fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut config = load_config(&args.common)?;
    if !args.interfaces.is_empty() {
        config.sensor.interfaces = args.interfaces.clone();
    }
    if !args.local_nets.is_empty() {
        config.sensor.local_nets = args
            .local_nets
            .iter()
            .map(|s| {
                s.parse::<Cidr>()
                    .with_context(|| format!("--local-net {s}"))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(mode) = args.attach_mode {
        config.sensor.attach_mode = mode;
    }
    if let Some(capacity) = args.host_capacity {
        config.sensor.host_capacity = capacity;
    }
    config.validate()?;
    let options = AgentOptions {
        interfaces: config.sensor.interfaces.clone(),
        local_nets: config.sensor.local_nets.clone(),
        allow: config.blocks.allow.clone(),
        attach: config.sensor.attach_mode,
        pins: PinLayout::new(&config.sensor.pin_dir),
        state_dir: config.sensor.state_dir.clone(),
        host_capacity: config.sensor.host_capacity,
        events_enabled: config.events.enabled,
        event_rate_per_cpu: config.events.rate_per_cpu,
        event_burst: config.events.burst,
        decapsulate: config.sensor.decapsulate.clone(),
        skip_duplicates: config.sensor.skip_duplicates,
        status_interval: config.status.interval.0,
        uplink: super::uplink::uplink_settings(&config)?,
        site: config.site.clone(),
        detection: config.detect.enabled.then(|| DetectionSettings {
            detect: config.detect.clone(),
            response: config.response.clone(),
            record: args.record.clone(),
        }),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            on_signal.cancel();
        });
        agent::run(options, Arc::new(SystemClock), shutdown).await
    })?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot install signal handlers; stop the agent with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM received"),
        _ = int.recv() => log::info!("SIGINT received"),
    }
}
