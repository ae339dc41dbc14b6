//! What the MSSP writes on the data partition before the first boot, here
//! for the test site: the agent's configuration pointing at the collector
//! with its pin, the site's network (addresses on both sides, forwarding),
//! the site and sensor names. `cargo xtask image --provision DIR` puts the
//! same files on a gateway's image.

use std::path::Path;

use anyhow::Context as _;

use super::net::{LAN_GATEWAY, LAN_PREFIX, WAN_GATEWAY, WAN_SERVER};

/// The site name the test sensor asks to be enrolled for.
pub const SITE: &str = "vm-boot";
/// The sensor's name in the fleet view.
pub const NAME: &str = "vm-gateway";

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes the provisioning files for a collector with `pin` into `dir`.
pub fn write_site(dir: &Path, pin: &str) -> anyhow::Result<()> {
    let config = format!(
        "# Provisioned for `cargo xtask vm boot`.\n\
         [sensor]\n\
         interfaces = [\"eth0\", \"eth1\"]\n\
         local_nets = [\"{LAN_PREFIX}\"]\n\
         attach_mode = \"auto\"\n\
         [site]\n\
         mode = \"inline\"\n\
         gateway = \"{LAN_GATEWAY}\"\n\
         [uplink]\n\
         collector = \"{WAN_SERVER}:{port}\"\n\
         server_name = \"{server}\"\n\
         pin = \"{pin}\"\n\
         key = \"/var/lib/vantage/sensor.key\"\n\
         spool_dir = \"/var/lib/vantage/spool\"\n\
         heartbeat_interval = \"2s\"\n\
         retry_min = \"1s\"\n\
         retry_max = \"2s\"\n",
        port = super::fleet::PORT,
        server = super::fleet::SERVER_NAME,
    );
    write(dir, "vantage.toml", &config)?;
    write(dir, "site", &format!("{SITE}\n"))?;
    write(dir, "name", &format!("{NAME}\n"))?;
    for (file, iface, address) in [
        ("network/10-lan.network", "eth0", LAN_GATEWAY),
        ("network/10-wan.network", "eth1", WAN_GATEWAY),
    ] {
        write(
            dir,
            file,
            &format!(
                "[Match]\nName={iface}\n\n[Link]\nRequiredForOnline=no\n\n\
                 [Network]\nAddress={address}/24\nLinkLocalAddressing=no\n\
                 IPv6AcceptRA=no\nIPv4Forwarding=yes\nConfigureWithoutCarrier=yes\n"
            ),
        )?;
    }
    Ok(())
}
