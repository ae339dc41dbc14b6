//! `vantage-fleet serve`: runs the collector until SIGTERM or Ctrl-C.

use std::{net::SocketAddr, path::Path};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vantage_fleet::{
    serve::{self, ServeOptions},
    tls,
};

/// Serves on `listen` with the identity in `dir` and the database `db`.
pub fn run(dir: &Path, db: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let pin = tls::pin(dir)?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            on_signal.cancel();
        });
        serve::serve(
            ServeOptions {
                listen,
                tls_dir: dir.to_path_buf(),
                db: db.to_path_buf(),
            },
            shutdown,
            |bound| {
                // Tests and scripts read this line to learn the port.
                println!("vantage-fleet listening on {bound} pin {pin}");
            },
        )
        .await
    })?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
