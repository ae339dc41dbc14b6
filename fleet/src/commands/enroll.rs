//! `vantage-fleet enroll`: registers a sensor's key for a site, from a signed
//! enrolment request or from a bare public key and a site, with the contract
//! its reports will be judged against (`--mode`, `--expect-hosts`,
//! `--resolvers`).

use std::path::Path;

use anyhow::{bail, Context as _};
use vantage_fleet::{
    assurance::contract::Contract, cli::ContractFlags, serve::unix_now, store::SqliteStore,
};
use vantage_protocol::{Envelope, Message, PublicKey};

/// Enrolls into `db` what `--request`, or `--public-key` with `--site`,
/// names, under the contract `flags` give; `name` overrides the request's
/// hostname.
pub fn run(
    db: &Path,
    request: Option<String>,
    public_key: Option<String>,
    site: Option<String>,
    name: Option<String>,
    flags: &ContractFlags,
) -> anyhow::Result<()> {
    let contract = super::parse_contract(flags)?.apply(&Contract::default());
    let (key, site, default_name) = match (request, public_key, site) {
        (Some(request), _, _) => {
            let bytes = vantage_protocol::keys::hex_decode(request.trim())
                .context("--request is not hex")?;
            let envelope = Envelope::decode(&bytes).context("--request is not an envelope")?;
            let Message::Enrolment(enrolment) = envelope.message().context("--request payload")?
            else {
                bail!(
                    "--request holds a {} message, not an enrolment",
                    envelope.message()?.kind_name()
                );
            };
            let key = PublicKey(enrolment.public_key);
            envelope
                .verify(&key)
                .context("the enrolment request is not signed by the key it names")?;
            (
                key,
                enrolment.site.to_string(),
                enrolment.hostname.to_string(),
            )
        }
        (None, Some(hex), Some(site)) => {
            let key = PublicKey::from_hex(&hex).context("--public-key")?;
            (key, site, String::new())
        }
        _ => bail!("give either --request, or --public-key with --site"),
    };
    if site.is_empty() {
        bail!("the site name is empty");
    }
    let name = name
        .filter(|n| !n.is_empty())
        .or_else(|| (!default_name.is_empty()).then_some(default_name))
        .unwrap_or_else(|| key.sensor_id().to_string());
    let mut store = SqliteStore::open(db)?;
    let enrolled = store.enroll_with_contract(key, &site, &name, &contract, unix_now())?;
    println!(
        "enrolled sensor {} ({}) for site {} as {}",
        enrolled.sensor,
        key.fingerprint(),
        enrolled.site,
        enrolled.name
    );
    println!("contract: {contract}");
    Ok(())
}
