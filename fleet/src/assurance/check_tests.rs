//! The contract check and the contradictions, term by term, with the exact
//! words the fleet view shows.

use vantage_protocol::{Declared, DeploymentMode, Verdict};

use super::*;
use crate::assurance::{
    contract::{Contract, HostRange},
    sight::SightRecord,
};

fn sight(
    verdict: Verdict,
    hosts_seen: u32,
    declared: Option<(DeploymentMode, u32, u32)>,
) -> SightRecord {
    SightRecord {
        revision: if declared.is_some() { 2 } else { 1 },
        verdict,
        since: None,
        window_secs: None,
        packets: None,
        bytes: None,
        hosts_seen,
        findings: vec![],
        declared: declared.map(|(mode, hosts_min, hosts_max)| Declared {
            mode,
            hosts_min,
            hosts_max,
        }),
        resolvers_seen: declared.map(|_| vec![]),
    }
}

fn contract(mode: Option<DeploymentMode>, hosts: Option<(u32, u32)>) -> Contract {
    Contract {
        mode,
        hosts: hosts.map(|(min, max)| HostRange { min, max }),
        resolvers: vec![],
    }
}

fn report(sight: &SightRecord, interfaces: u8) -> Option<Report<'_>> {
    Some(Report {
        sight,
        interfaces: Some(interfaces),
    })
}

/// A judgement in plain values: status, failure texts, unchecked terms
/// with why, contradictions.
type Judgement = (
    &'static str,
    Vec<String>,
    Vec<(Term, String)>,
    Vec<(ContradictionCode, String)>,
);

fn judge(contract: &Contract, sight: Option<&SightRecord>, interfaces: u8) -> Judgement {
    let outcome = check(contract, sight.and_then(|s| report(s, interfaces)));
    let found = contradictions(contract, sight, &outcome);
    (
        outcome.status.name(),
        outcome.failures.iter().map(|f| f.text.clone()).collect(),
        outcome
            .unchecked
            .iter()
            .map(|u| (u.term, u.why.clone()))
            .collect(),
        found.into_iter().map(|c| (c.code, c.text)).collect(),
    )
}

const MIRROR: Option<DeploymentMode> = Some(DeploymentMode::Mirror);
const INLINE: Option<DeploymentMode> = Some(DeploymentMode::Inline);

#[test]
fn without_a_contract_nothing_is_judged_or_contradicted() {
    let ok = sight(Verdict::Ok, 5, Some((DeploymentMode::Inline, 5, 10)));
    let (status, failures, unchecked, found) = judge(&Contract::default(), Some(&ok), 2);
    assert_eq!(status, "no_contract");
    assert!(failures.is_empty() && unchecked.is_empty() && found.is_empty());
}

#[test]
fn a_blind_sensor_fails_its_contract_even_with_every_host_counted() {
    // An unmirrored switch port: every client's broadcasts arrive, so the
    // census is full, but the sensor watches none of their traffic.
    let mut unmirrored = sight(Verdict::Blind, 3, Some((DeploymentMode::Mirror, 3, 3)));
    unmirrored.findings = vec![
        vantage_protocol::Finding {
            code: vantage_protocol::FindingCode::OnlyBroadcast,
            a: 615,
            b: 615,
        },
        vantage_protocol::Finding {
            code: vantage_protocol::FindingCode::CannotBlock,
            a: 0,
            b: 0,
        },
    ];
    let terms = contract(MIRROR, Some((3, 3)));
    let (status, failures, unchecked, found) = judge(&terms, Some(&unmirrored), 1);
    assert_eq!(status, "fail");
    assert_eq!(
        failures,
        ["the sensor reports itself blind (only_broadcast)"]
    );
    assert!(
        unchecked.is_empty() && found.is_empty(),
        "{unchecked:?} {found:?}"
    );
}

#[test]
fn a_sensor_outside_the_firewall_configured_to_agree_is_caught() {
    // The three-year story: 5 of 375 hosts, and a configuration lowered to
    // match, so that the sensor itself says ok.
    let misplaced = sight(Verdict::Ok, 5, Some((DeploymentMode::Mirror, 5, 10)));
    let terms = contract(MIRROR, Some((375, 400)));
    let (status, failures, unchecked, found) = judge(&terms, Some(&misplaced), 1);
    assert_eq!(status, "fail");
    assert_eq!(failures, ["seen 5 of 375 contracted hosts"]);
    assert!(unchecked.is_empty());
    assert_eq!(
        found,
        [
            (
                ContradictionCode::DeclaredHosts,
                "declares 5-10 hosts, the contract 375-400".to_owned()
            ),
            (
                ContradictionCode::OkAgainstContract,
                "says ok while the contract check fails".to_owned()
            ),
        ]
    );
}

#[test]
fn host_bounds_are_inclusive_and_more_hosts_than_contracted_fail() {
    let terms = contract(None, Some((300, 400)));
    for (seen, expected) in [
        (299, Some("seen 299 of 300 contracted hosts")),
        (300, None),
        (400, None),
        (401, Some("seen 401 hosts, more than the 400 contracted")),
    ] {
        let s = sight(
            Verdict::Degraded,
            seen,
            Some((DeploymentMode::Undeclared, 300, 400)),
        );
        let (status, failures, _, found) = judge(&terms, Some(&s), 2);
        assert_eq!(failures, expected.into_iter().collect::<Vec<_>>(), "{seen}");
        assert_eq!(
            status,
            if expected.is_some() { "fail" } else { "pass" },
            "{seen}"
        );
        // Degraded is not ok, and the declared range agrees: no contradiction.
        assert!(found.is_empty(), "{seen}: {found:?}");
    }
    let exact = contract(None, Some((375, 375)));
    let s = sight(Verdict::Ok, 374, Some((DeploymentMode::Undeclared, 0, 0)));
    let (status, failures, _, found) = judge(&exact, Some(&s), 2);
    assert_eq!(
        (status, failures),
        ("fail", vec!["seen 374 of 375 contracted hosts".to_owned()])
    );
    assert_eq!(
        found,
        [
            (
                ContradictionCode::DeclaredHosts,
                "declares no host count, the contract 375".to_owned()
            ),
            (
                ContradictionCode::OkAgainstContract,
                "says ok while the contract check fails".to_owned()
            ),
        ]
    );
}

#[test]
fn the_mode_is_judged_from_the_declaration_and_for_inline_the_interfaces() {
    let inline_sensor = sight(Verdict::Ok, 10, Some((DeploymentMode::Inline, 0, 0)));
    let (status, failures, _, found) = judge(&contract(MIRROR, None), Some(&inline_sensor), 2);
    assert_eq!(status, "fail");
    assert_eq!(
        failures,
        ["the sensor runs as inline, the contract says mirror"]
    );
    assert_eq!(
        found,
        [
            (
                ContradictionCode::DeclaredMode,
                "declares inline, the contract mirror".to_owned()
            ),
            (
                ContradictionCode::OkAgainstContract,
                "says ok while the contract check fails".to_owned()
            ),
        ]
    );
    // Inline as contracted, on both sides: passes.
    let (status, failures, _, found) = judge(&contract(INLINE, None), Some(&inline_sensor), 2);
    assert_eq!((status, failures.len(), found.len()), ("pass", 0, 0));
    // Inline as contracted, but only one interface: it cannot see both ways.
    let (status, failures, _, _) = judge(&contract(INLINE, None), Some(&inline_sensor), 1);
    assert_eq!(status, "fail");
    assert_eq!(
        failures,
        ["inline contracted, but attached to 1 interface (a gateway attaches its LAN and WAN sides)"]
    );
    // Undeclared: an inline contract is still judged by the interfaces, a
    // mirror contract cannot be.
    let undeclared = sight(Verdict::Ok, 10, Some((DeploymentMode::Undeclared, 0, 0)));
    let (status, _, unchecked, found) = judge(&contract(MIRROR, None), Some(&undeclared), 1);
    assert_eq!(status, "unchecked");
    assert_eq!(
        unchecked,
        [(
            Term::Mode,
            "the sensor's configuration declares no mode".to_owned()
        )]
    );
    assert_eq!(
        found,
        [(
            ContradictionCode::DeclaredMode,
            "declares no mode, the contract mirror".to_owned()
        )]
    );
    let (status, failures, _, _) = judge(&contract(INLINE, None), Some(&undeclared), 0);
    assert_eq!(status, "fail");
    assert_eq!(
        failures,
        ["inline contracted, but attached to 0 interfaces (a gateway attaches its LAN and WAN sides)"]
    );
}

#[test]
fn terms_that_cannot_be_judged_say_why() {
    let terms = Contract {
        mode: MIRROR,
        hosts: Some(HostRange { min: 10, max: 20 }),
        resolvers: vec![[10, 0, 0, 53].into()],
    };
    let (status, failures, unchecked, found) = judge(&terms, None, 2);
    assert_eq!((status, failures.len(), found.len()), ("unchecked", 0, 0));
    assert_eq!(
        unchecked,
        [
            (Term::Hosts, "no heartbeat yet".to_owned()),
            (Term::Mode, "no heartbeat yet".to_owned()),
            (Term::Resolvers, "no heartbeat yet".to_owned()),
        ]
    );
    // First window: the host count is not judged yet.
    let starting = sight(Verdict::Unknown, 0, Some((DeploymentMode::Mirror, 10, 20)));
    let (status, _, unchecked, found) = judge(&terms, Some(&starting), 1);
    assert_eq!(status, "pass");
    assert_eq!(
        unchecked[0],
        (
            Term::Hosts,
            "the sensor's first window is not over (verdict unknown)".to_owned()
        )
    );
    assert!(found.is_empty());
    // A first-revision heartbeat: hosts judged, mode not, no declaration to contradict.
    let old = sight(Verdict::Ok, 3, None);
    let (status, failures, unchecked, found) = judge(&terms, Some(&old), 1);
    assert_eq!(status, "fail");
    assert_eq!(failures, ["seen 3 of 10 contracted hosts"]);
    assert_eq!(
        unchecked,
        [
            (
                Term::Mode,
                "a first-revision heartbeat does not say how the sensor runs".to_owned()
            ),
            (
                Term::Resolvers,
                "a first-revision heartbeat does not name the resolvers asked".to_owned()
            ),
        ]
    );
    assert_eq!(
        found,
        [(
            ContradictionCode::OkAgainstContract,
            "says ok while the contract check fails".to_owned()
        )]
    );
}

#[test]
fn lookups_to_other_resolvers_fail_the_contract() {
    let terms = Contract {
        mode: None,
        hosts: None,
        resolvers: vec![[10, 0, 0, 53].into()],
    };
    let mut seen = sight(Verdict::Ok, 5, Some((DeploymentMode::Inline, 0, 0)));
    let (status, _, unchecked, _) = judge(&terms, Some(&seen), 2);
    assert_eq!(status, "unchecked");
    assert_eq!(
        unchecked,
        [(
            Term::Resolvers,
            "no DNS lookup seen in the sensor's window".to_owned()
        )]
    );
    seen.resolvers_seen = Some(vec![[10, 0, 0, 53].into()]);
    assert_eq!(judge(&terms, Some(&seen), 2).0, "pass");
    seen.resolvers_seen = Some(vec![[10, 0, 0, 53].into(), [8, 8, 8, 8].into()]);
    let (status, failures, _, found) = judge(&terms, Some(&seen), 2);
    assert_eq!(status, "fail");
    assert_eq!(
        failures,
        ["lookups go to 8.8.8.8, not only to the contracted 10.0.0.53"]
    );
    assert_eq!(
        found,
        [(
            ContradictionCode::OkAgainstContract,
            "says ok while the contract check fails".to_owned()
        )]
    );
}
