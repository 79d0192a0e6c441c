//! The operation mix: a generator that stopped reaching the interesting states
//! (successful reserves, commits, fulfils) fails loudly.

use super::*;

#[derive(Default)]
pub(super) struct Mix {
    /// Operation label -> (succeeded, refused).
    pub(super) counts: BTreeMap<&'static str, (u64, u64)>,
    /// (operation label, error variant) -> count.
    pub(super) refusals: BTreeMap<(&'static str, String), u64>,
    pub(super) expired: u64,
    pub(super) forgotten: u64,
}

impl Mix {
    pub(super) fn label(operation: &Operation, result: &Result<reference_model::Outcome, EngineError>) -> &'static str {
        use reference_model::Outcome as M;
        match (operation, result) {
            (Operation::Reserve(_), Ok(M::Reserved(r))) if r.replayed => "reserve (replayed)",
            (Operation::Reserve(_), _) => "reserve",
            (Operation::Commit { .. }, _) => "commit",
            (Operation::Release { partial: None, .. }, _) => "release whole",
            (Operation::Release { .. }, _) => "release partial",
            (Operation::Fulfil { partial: None, .. }, _) => "fulfil whole",
            (Operation::Fulfil { .. }, _) => "fulfil partial",
            (Operation::Extend { .. }, _) => "extend",
            (Operation::ExpireDue, _) => "expire_due",
            (Operation::Adjust { .. }, _) => "adjust",
            (Operation::SetOnHand { expected_version: Some(_), .. }, _) => "set_on_hand (versioned)",
            (Operation::SetOnHand { .. }, _) => "set_on_hand",
            (Operation::SetSafetyStock { .. }, _) => "set_safety_stock",
            (Operation::SetBackorderLimit { .. }, _) => "set_backorder_limit",
            (Operation::MoveStock { .. }, _) => "move_stock",
            (Operation::AddIncoming { .. }, _) => "add_incoming",
            (Operation::ReceiveIncoming { .. }, _) => "receive_incoming",
            (Operation::CancelIncoming { .. }, _) => "cancel_incoming",
            (Operation::Restock(_), _) => "restock",
            (Operation::BulkLoad(_), _) => "bulk_load",
            (Operation::DefineKit { .. }, _) => "define_kit",
            (Operation::UpsertChannel(_), _) => "upsert_channel",
            (Operation::UpsertLocations(_), _) => "upsert_locations",
            (Operation::ReserveSourced(_), _) => "reserve_sourced",
        }
    }

    pub(super) fn record(&mut self, operation: &Operation, result: &Result<reference_model::Outcome, EngineError>) {
        let label = Mix::label(operation, result);
        let entry = self.counts.entry(label).or_default();
        match result {
            Ok(_) => entry.0 += 1,
            Err(error) => {
                entry.1 += 1;
                let variant = format!("{error:?}").split([' ', '(', '{']).next().unwrap_or_default().to_owned();
                *self.refusals.entry((label, variant)).or_default() += 1;
            }
        }
        if let Ok(reference_model::Outcome::Expiry { expired, forgotten }) = result {
            self.expired += expired;
            self.forgotten += forgotten;
        }
    }

    pub(super) fn succeeded(&self, label: &str) -> u64 {
        self.counts.get(label).map_or(0, |c| c.0)
    }

    pub(super) fn total(&self) -> u64 {
        self.counts.values().map(|(ok, refused)| ok + refused).sum()
    }

    pub(super) fn report(&self) -> String {
        let total = self.total().max(1) as f64;
        let mut text = format!("{} operations\n", self.total());
        for (label, (ok, refused)) in &self.counts {
            let share = 100.0 * (ok + refused) as f64 / total;
            text += &format!("  {label:<26} {share:5.1}%  ok {ok:>6}  refused {refused:>6}\n");
        }
        for ((label, variant), count) in &self.refusals {
            text += &format!("    {label:<24} refused {variant:<24} {count:>6}\n");
        }
        text + &format!("  reservations expired by sweeps {}, forgotten {}\n", self.expired, self.forgotten)
    }
}
