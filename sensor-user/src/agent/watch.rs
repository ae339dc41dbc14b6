//! What the sensor measures of its own situation for the judge, each tick:
//! the attached interfaces as the kernel reports them now (link running,
//! our program still attached, over rtnetlink), the machine's own traffic
//! ([`OwnTraffic`]), and in mirror mode the self-test. `vantage run` and
//! `vantage placement` measure them the same way.

use std::time::SystemTime;

use super::{own_traffic::OwnTraffic, self_test::SelfTester};
use crate::{
    datapath,
    report::agent_state::SelfTestState,
    sample::Interval,
    visibility::{InterfaceSight, SelfTestResult, Surroundings},
};

/// An interface the sensor watches.
#[derive(Clone, Debug)]
pub struct Watched {
    pub name: String,
    /// The id of the program attached there; `None` when not known (no
    /// agent is running), and then any Vantage program counts as ours.
    pub program_id: Option<u32>,
    /// It runs in generic mode.
    pub generic: bool,
}

impl Watched {
    /// The program attached now (`attached`) is ours.
    fn is_ours(&self, attached: Option<u32>) -> bool {
        match (attached, self.program_id) {
            (Some(id), Some(ours)) => id == ours,
            (Some(id), None) => datapath::is_sensor_program(id),
            (None, _) => false,
        }
    }
}

/// The measurements, kept between ticks.
pub struct Watch {
    interfaces: Vec<Watched>,
    own_traffic: OwnTraffic,
    self_tester: Option<SelfTester>,
}

impl Watch {
    /// Watches `interfaces`; the machine's own traffic counts from now.
    pub fn new(interfaces: Vec<Watched>) -> Watch {
        let mut own_traffic = OwnTraffic::default();
        own_traffic.delta();
        Watch {
            interfaces,
            own_traffic,
            self_tester: None,
        }
    }

    /// Runs `tester` as well (mirror mode).
    pub(super) fn with_self_test(mut self, tester: Option<SelfTester>) -> Watch {
        self.self_tester = tester;
        self
    }

    /// The watched interfaces that do not exist in this network namespace.
    pub fn missing(&self) -> Vec<&str> {
        self.interfaces
            .iter()
            .filter(|i| {
                matches!(
                    datapath::link_report(&i.name),
                    Err(datapath::DatapathError::NoSuchInterface(_))
                )
            })
            .map(|i| i.name.as_str())
            .collect()
    }

    /// How many interfaces are watched.
    pub fn len(&self) -> usize {
        self.interfaces.len()
    }

    /// Nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.interfaces.is_empty()
    }

    /// The surroundings now, for the judge. An interface that cannot be
    /// asked counts as down and detached (it is gone); own traffic is what
    /// the machine took in since the previous call.
    pub fn surroundings(&mut self) -> Surroundings {
        Surroundings {
            delivered_here: self.own_traffic.delta(),
            interfaces: self
                .interfaces
                .iter()
                .map(|watched| {
                    let report = datapath::link_report(&watched.name).ok();
                    InterfaceSight {
                        up: report.is_some_and(|r| r.running),
                        ours: watched.is_ours(report.and_then(|r| r.prog_id)),
                        generic: watched.generic,
                    }
                })
                .collect(),
        }
    }

    /// Advances the self-test, if there is one, with the latest interval.
    pub fn self_test_tick(&mut self, interval: &Interval, now: SystemTime) {
        if let Some(tester) = &mut self.self_tester {
            tester.tick(interval, now);
        }
    }

    /// The latest self-test result, for the judge.
    pub fn self_test(&self) -> Option<SelfTestResult> {
        self.self_tester.as_ref().and_then(SelfTester::last)
    }

    /// The latest self-test, as `vantage status` shows it.
    pub fn self_test_report(&self) -> Option<SelfTestState> {
        self.self_tester.as_ref().and_then(|t| t.report().cloned())
    }
}
