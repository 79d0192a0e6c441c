//! The knobs of a run: the dataset and the flows' behaviour ([`Params`]), the mix of
//! flows ([`Mix`]), the load shape a profile may suggest ([`LoadHints`]), and the
//! profiles themselves (TOML, see README.md).
//!
//! Precedence: built-in defaults, then the profile, then the command line.

use crate::pacer::Arrival;
use crate::units::{Dur, Share};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// One kind of flow: what one arrival does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowKind {
    /// Read one position (product page, one store).
    Position,
    /// Read one SKU across a channel, sometimes with the per-location breakdown.
    Channel,
    /// Read a listing page: `page-size` SKUs in one `AvailabilityBatch`.
    Page,
    /// reserve -> commit -> fulfil, or abandoned (released, or left to expire).
    Checkout,
    /// reserve one unit of a hot SKU -> commit -> fulfil.
    FlashSale,
    /// A warehouse delta on hand.
    Adjust,
    /// A warehouse count: absolute on hand, with or without compare-and-set.
    SetOnHand,
    /// A batch of `bulk-rows` absolute positions.
    BulkLoad,
}

impl FlowKind {
    pub const ALL: [FlowKind; 8] = [
        FlowKind::Position,
        FlowKind::Channel,
        FlowKind::Page,
        FlowKind::Checkout,
        FlowKind::FlashSale,
        FlowKind::Adjust,
        FlowKind::SetOnHand,
        FlowKind::BulkLoad,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FlowKind::Position => "position",
            FlowKind::Channel => "channel",
            FlowKind::Page => "page",
            FlowKind::Checkout => "checkout",
            FlowKind::FlashSale => "flash-sale",
            FlowKind::Adjust => "adjust",
            FlowKind::SetOnHand => "set-on-hand",
            FlowKind::BulkLoad => "bulk-load",
        }
    }
}

impl FromStr for FlowKind {
    type Err = String;
    fn from_str(text: &str) -> Result<FlowKind, String> {
        FlowKind::ALL.iter().copied().find(|kind| kind.name() == text.trim()).ok_or_else(|| {
            let names: Vec<&str> = FlowKind::ALL.iter().map(|kind| kind.name()).collect();
            format!("unknown flow {text:?} (one of {})", names.join(", "))
        })
    }
}

impl fmt::Display for FlowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Weights of flows (any positive numbers; only their ratios matter).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mix(pub BTreeMap<FlowKind, f64>);

impl Mix {
    pub fn of(weights: &[(FlowKind, f64)]) -> Mix {
        Mix(weights.iter().copied().collect())
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some((kind, weight)) = self.0.iter().find(|(_, weight)| !(weight.is_finite() && **weight >= 0.0)) {
            return Err(format!("the weight of {kind} must be a number of at least 0, not {weight}"));
        }
        if self.0.values().sum::<f64>() <= 0.0 {
            return Err("the mix needs at least one flow with a weight above 0".to_owned());
        }
        Ok(())
    }

    pub fn contains(&self, kind: FlowKind) -> bool {
        self.0.get(&kind).is_some_and(|weight| *weight > 0.0)
    }

    /// Shares in percent, for reports.
    pub fn shares(&self) -> BTreeMap<FlowKind, f64> {
        let total: f64 = self.0.values().sum();
        self.0.iter().filter(|(_, w)| **w > 0.0).map(|(kind, weight)| (*kind, weight * 100.0 / total)).collect()
    }

    /// `page=30,checkout=10`.
    pub fn parse_inline(text: &str) -> Result<Mix, String> {
        let mut mix = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (name, weight) =
                part.split_once('=').ok_or_else(|| format!("{part:?}: write flow=weight, e.g. page=30"))?;
            let weight: f64 = weight.trim().parse().map_err(|_| format!("{part:?}: the weight is not a number"))?;
            mix.insert(name.parse()?, weight);
        }
        let mix = Mix(mix);
        mix.validate()?;
        Ok(mix)
    }
}

/// The dataset and how the flows behave. Every field has a default; a profile's
/// `[params]` and the command line override them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Params {
    /// SKUs in the catalogue (each stocked at every location).
    pub skus: u32,
    /// Locations: distribution centres, a dark store, stores.
    pub locations: u32,
    /// Kits (bundles of 2-4 SKUs).
    pub kits: u32,
    /// Seeds the dataset and the sequence of flows.
    pub seed: u64,
    /// Zipf exponent of SKU popularity (0: uniform; 1: classic long tail).
    pub zipf: f64,
    /// SKUs on a listing page.
    pub page_size: u32,
    /// Lines of a checkout, at most (1 to this, fewer more likely).
    pub max_lines: u32,
    /// Share of checkout lines that are kits.
    pub kit_share: Share,
    /// Share of checkouts that are click & collect (from a store) rather than shipped.
    pub pickup_share: Share,
    /// Time to live of a checkout's hold.
    pub ttl: Dur,
    /// Share of checkouts abandoned after the reserve.
    pub abandon: Share,
    /// Of the abandoned ones, the share released at once; the rest are left to expire.
    pub abandon_release: Share,
    /// Time to live of the carts left to expire (at least 1s).
    pub abandon_ttl: Dur,
    /// Pause between reserve and commit (a customer paying); not counted in latency.
    pub think: Dur,
    /// Hot SKUs of the flash sale.
    pub hot_skus: u32,
    /// Units of each hot SKU (at one distribution centre).
    pub hot_stock: u32,
    /// Share of flash-sale winners who abandon (released or left to expire).
    pub flash_abandon: Share,
    /// Positions adjusted only by the feed, whose final on hand is checked exactly.
    pub ledger_skus: u32,
    /// Share of counts made as compare-and-set (read, then set with the version).
    pub cas_share: Share,
    /// Rows per bulk load.
    pub bulk_rows: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            skus: 10_000,
            locations: 20,
            kits: 50,
            seed: 42,
            zipf: 1.0,
            page_size: 48,
            max_lines: 3,
            kit_share: Share(0.05),
            pickup_share: Share(0.2),
            ttl: Dur(Duration::from_secs(15 * 60)),
            abandon: Share(0.2),
            abandon_release: Share(0.5),
            abandon_ttl: Dur(Duration::from_secs(1)),
            think: Dur(Duration::ZERO),
            hot_skus: 3,
            hot_stock: 200,
            flash_abandon: Share(0.0),
            ledger_skus: 50,
            cas_share: Share(0.5),
            bulk_rows: 200,
        }
    }
}

impl Params {
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, message: &str| if ok { Ok(()) } else { Err(message.to_owned()) };
        check(self.skus >= 1 && self.skus <= 10_000_000, "--skus must be from 1 to 10,000,000")?;
        check(self.locations >= 1 && self.locations <= 10_000, "--locations must be from 1 to 10,000")?;
        check(
            u64::from(self.skus) * u64::from(self.locations) <= 50_000_000,
            "--skus x --locations must be at most 50,000,000 positions",
        )?;
        check(self.kits <= 10_000, "--kits must be at most 10,000")?;
        check(self.skus >= 2 || self.kits == 0, "kits need at least 2 SKUs")?;
        check(self.zipf.is_finite() && self.zipf >= 0.0 && self.zipf <= 10.0, "--zipf must be from 0 to 10")?;
        check(self.page_size >= 1 && self.page_size <= 1_000, "--page-size must be from 1 to 1,000")?;
        check(self.max_lines >= 1 && self.max_lines <= 100, "--max-lines must be from 1 to 100")?;
        let ttl_range = Duration::from_secs(1)..=Duration::from_secs(7 * 24 * 3600);
        check(ttl_range.contains(&self.ttl.0), "--ttl must be from 1s to 7 days")?;
        check(ttl_range.contains(&self.abandon_ttl.0), "--abandon-ttl must be from 1s to 7 days")?;
        check(self.think.0 <= Duration::from_secs(3600), "--think must be at most 1h")?;
        check(self.hot_skus >= 1 && self.hot_skus <= 1_000, "--hot-skus must be from 1 to 1,000")?;
        check(self.hot_stock <= 100_000_000, "--hot-stock must be at most 100,000,000")?;
        check(self.ledger_skus >= 1 && self.ledger_skus <= 100_000, "--ledger-skus must be from 1 to 100,000")?;
        check(self.bulk_rows >= 1 && self.bulk_rows <= 1_000_000, "--bulk-rows must be from 1 to 1,000,000")?;
        Ok(())
    }
}

/// The load shape a profile suggests (the command line overrides each).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoadHints {
    pub mode: Option<Mode>,
    pub rate: Option<f64>,
    pub arrival: Option<Arrival>,
    pub concurrency: Option<usize>,
    pub duration: Option<Dur>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A target arrival rate, kept whatever the server does (latency from intended send).
    Open,
    /// A fixed number of users, each starting a flow when its last one ended.
    Closed,
    /// Open-loop steps of rising rate until the p99 objective breaks.
    Ramp,
}

/// A `mixed` profile (TOML).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// What traffic this profile stands for.
    pub description: String,
    pub load: LoadHints,
    pub mix: Mix,
    /// Any of [`Params`] (kebab-case keys).
    pub params: toml::Table,
}

/// Profiles built into the binary (also shipped as files in `loadtest/profiles/`).
pub const BUILT_IN_PROFILES: [(&str, &str); 3] = [
    ("weekday", include_str!("../profiles/weekday.toml")),
    ("black-friday", include_str!("../profiles/black-friday.toml")),
    ("nightly-sync", include_str!("../profiles/nightly-sync.toml")),
];

/// The profile `mixed` uses when none is named.
pub const DEFAULT_PROFILE: &str = "weekday";

impl Profile {
    pub fn parse(text: &str, origin: &str) -> Result<Profile, String> {
        let profile: Profile = toml::from_str(text).map_err(|error| format!("profile {origin}: {error}"))?;
        profile.mix.validate().map_err(|error| format!("profile {origin}: [mix]: {error}"))?;
        profile.apply_params(&mut Params::default()).map_err(|error| format!("profile {origin}: {error}"))?;
        Ok(profile)
    }

    /// A built-in profile by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<(String, Profile), String> {
        if let Some((name, text)) = BUILT_IN_PROFILES.iter().find(|(name, _)| *name == name_or_path) {
            return Ok((name.to_string(), Profile::parse(text, name)?));
        }
        let path = Path::new(name_or_path);
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let name = path.file_stem().map_or(name_or_path.to_owned(), |stem| stem.to_string_lossy().into_owned());
                Ok((name, Profile::parse(&text, name_or_path)?))
            }
            Err(error) => {
                let names: Vec<&str> = BUILT_IN_PROFILES.iter().map(|(name, _)| *name).collect();
                Err(format!(
                    "profile {name_or_path:?}: not a built-in profile ({}) and not a readable file: {error}",
                    names.join(", ")
                ))
            }
        }
    }

    /// Writes the profile's `[params]` over `params`.
    pub fn apply_params(&self, params: &mut Params) -> Result<(), String> {
        if self.params.is_empty() {
            return Ok(());
        }
        let mut merged = toml::Table::try_from(&*params).map_err(|error| error.to_string())?;
        for (key, value) in &self.params {
            merged.insert(key.clone(), value.clone());
        }
        *params = toml::Value::Table(merged).try_into().map_err(|error| format!("[params]: {error}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse_and_validate() {
        for (name, text) in BUILT_IN_PROFILES {
            let profile = Profile::parse(text, name).unwrap();
            assert!(!profile.description.is_empty(), "{name}");
            let mut params = Params::default();
            profile.apply_params(&mut params).unwrap();
            params.validate().unwrap();
        }
        // The files shipped beside the binary are the ones built in.
        for (name, text) in BUILT_IN_PROFILES {
            let path = format!("{}/profiles/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            assert_eq!(std::fs::read_to_string(path).unwrap(), text);
        }
    }

    #[test]
    fn profile_params_override_defaults_and_unknown_keys_are_refused() {
        let profile = Profile::parse(
            "description = \"t\"\n[mix]\npage = 3\ncheckout = 1\n[params]\nzipf = 1.3\nabandon = \"40%\"\nttl = \"2m\"\n",
            "t",
        )
        .unwrap();
        let mut params = Params::default();
        profile.apply_params(&mut params).unwrap();
        assert_eq!(params.zipf, 1.3);
        assert_eq!(params.abandon, Share(0.4));
        assert_eq!(params.ttl, Dur(Duration::from_secs(120)));
        assert_eq!(params.skus, Params::default().skus);
        assert_eq!(profile.mix.shares()[&FlowKind::Page], 75.0);
        assert!(Profile::parse("[mix]\npage = 1\n[params]\nzipff = 1\n", "t").unwrap_err().contains("zipff"));
        assert!(Profile::parse("[mix]\nsearch = 1\n", "t").is_err());
        assert!(Profile::parse("[mix]\npage = 0\n", "t").is_err());
    }

    #[test]
    fn inline_mixes() {
        let mix = Mix::parse_inline("page=30, checkout=10").unwrap();
        assert_eq!(mix.0.len(), 2);
        assert!(Mix::parse_inline("page").is_err());
        assert!(Mix::parse_inline("search=1").is_err());
    }
}
