//! Typed helpers for issue 6's calls: sourced reservations, the store finder,
//! lost-demand signals and the sourcing profiles.

use super::calls::{unexpected, unexpected_applied};
use super::error::ClientError;
use super::Client;
use crate::engine::{DemandRank, Operation, SourcedReserveRequest, StoreQuery};
use crate::protocol::{Applied, Call, Reply, WireDemandCounters, WireDemandEntry, WireSourcedOutcome, WireStoreMatch};

/// The sourcing profiles in force: their names and the whole TOML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfilesInForce {
    pub names: Vec<String>,
    pub toml: String,
}

impl Client {
    /// Lets the server choose where the order ships from (or holds it at the chosen
    /// pickup store) and hold it, all lines or none. Retried like `reserve`: a retry
    /// with the same id and lines is answered from the first outcome, never held twice.
    pub async fn reserve_sourced(&self, request: SourcedReserveRequest) -> Result<WireSourcedOutcome, ClientError> {
        match self.apply(Operation::ReserveSourced(request)).await? {
            Applied::Sourced(outcome) => Ok(outcome),
            other => Err(unexpected_applied("Applied::Sourced", &other)),
        }
    }

    /// Pickup stores near a point that can serve every line now, nearest first.
    pub async fn find_stores(&self, query: StoreQuery) -> Result<Vec<WireStoreMatch>, ClientError> {
        match self.call(Call::FindStores(query)).await? {
            Reply::Stores(stores) => Ok(stores),
            other => Err(unexpected("Stores", &other)),
        }
    }

    /// Lost demand of one SKU: over every reserve, or over a channel's sourced reserves.
    pub async fn demand(&self, sku: &str, channel: Option<&str>) -> Result<WireDemandCounters, ClientError> {
        let call = Call::Demand { sku: sku.to_owned(), channel: channel.map(str::to_owned) };
        match self.call(call).await? {
            Reply::Demand(counters) => Ok(counters),
            other => Err(unexpected("Demand", &other)),
        }
    }

    /// The SKUs with the most lost demand by `rank`, highest first.
    pub async fn demand_top(
        &self,
        channel: Option<&str>,
        rank: DemandRank,
        limit: u32,
    ) -> Result<Vec<WireDemandEntry>, ClientError> {
        match self.call(Call::DemandTop { channel: channel.map(str::to_owned), rank, limit }).await? {
            Reply::DemandTop(entries) => Ok(entries),
            other => Err(unexpected("DemandTop", &other)),
        }
    }

    pub async fn sourcing_profiles(&self) -> Result<ProfilesInForce, ClientError> {
        profiles(self.call(Call::SourcingProfiles).await?)
    }

    /// Replaces every sourcing profile (validated by the server first; kept across
    /// its restarts). Admin only.
    pub async fn set_sourcing_profiles(&self, toml: String) -> Result<ProfilesInForce, ClientError> {
        profiles(self.call(Call::SetSourcingProfiles { toml }).await?)
    }
}

fn profiles(reply: Reply) -> Result<ProfilesInForce, ClientError> {
    match reply {
        Reply::SourcingProfiles { names, toml } => Ok(ProfilesInForce { names, toml }),
        other => Err(unexpected("SourcingProfiles", &other)),
    }
}
