//! Sourcing profiles: named rules for choosing the locations of an order.
//!
//! Profiles are server configuration, read from TOML (`[profile.<name>]` tables) and
//! swapped into the engine whole. They are not logged: a sourced reservation is
//! logged as its concrete after-image, so replaying the log never needs them.

use crate::limits::{MAX_PROFILE_LIST_ENTRIES, MAX_SOURCING_LOCATIONS, MAX_SOURCING_PROFILES};
use crate::model::{validate_id, IdKind, LocationFlags, LocationKind};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A location flag a profile may exclude by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationFlag {
    /// The location ships to customers.
    Ships,
    /// The location serves click & collect.
    Pickup,
}

impl LocationFlag {
    /// Whether a location has this flag.
    pub fn is_set(self, flags: LocationFlags) -> bool {
        match self {
            LocationFlag::Ships => flags.ships,
            LocationFlag::Pickup => flags.pickup,
        }
    }
}

/// One key of a profile's candidate order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RankKey {
    /// Great-circle distance to the delivery point, nearest first (whole metres).
    /// Without a delivery point (pickup) every candidate ties on it.
    Distance,
    /// The location's `priority`, lowest first.
    Priority,
    /// The profile's `location_costs` (or `default_cost`), cheapest first.
    Cost,
}

/// How a sourced reserve chooses locations. Candidates are ordered by `rank_by`
/// (each key in turn), then by location name (byte order), so the order is total.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcingProfile {
    #[serde(skip)]
    pub name: String,
    pub rank_by: Vec<RankKey>,
    /// Prefer the allocation with the fewest locations (fewest split shipments)
    /// before comparing ranks.
    pub minimise_locations: bool,
    /// Most locations one order may be split over: 1 (never split) to 8.
    pub max_locations: u8,
    /// Candidates farther than this from the delivery point are not used. Ignored
    /// for pickup (the store is named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_distance_km: Option<f64>,
    pub exclude_kinds: Vec<LocationKind>,
    /// Locations with any of these flags are never used (`pickup`: keep the stock
    /// of click & collect stores for their own customers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_flags: Vec<LocationFlag>,
    pub exclude_locations: Vec<String>,
    /// Cost per location for `RankKey::Cost`; a location not listed costs `default_cost`.
    pub location_costs: BTreeMap<String, u32>,
    pub default_cost: u32,
    /// When stock alone cannot cover the order: hold beyond stock, within each
    /// position's backorder limit.
    pub allow_backorder: bool,
    /// When stock alone cannot cover the order: hold against incoming supply due by
    /// the request's `promise_by` (needs one).
    pub allow_preorder: bool,
}

impl SourcingProfile {
    /// A profile with the documented defaults (those of the built-in `default`).
    pub fn new(name: &str) -> SourcingProfile {
        SourcingProfile {
            name: name.to_owned(),
            rank_by: vec![RankKey::Distance, RankKey::Priority],
            minimise_locations: true,
            max_locations: 3,
            max_distance_km: None,
            exclude_kinds: Vec::new(),
            exclude_flags: Vec::new(),
            exclude_locations: Vec::new(),
            location_costs: BTreeMap::new(),
            default_cost: 0,
            allow_backorder: false,
            allow_preorder: false,
        }
    }

    /// The cost `RankKey::Cost` ranks a location by.
    pub fn cost_of(&self, location: &str) -> u32 {
        self.location_costs.get(location).copied().unwrap_or(self.default_cost)
    }

    /// Checks every bound; the error names the profile and the field.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |field: &str, reason: String| ProfileError::Invalid {
            profile: self.name.clone(),
            field: field.to_owned(),
            reason,
        };
        if let Err(error) = validate_id(IdKind::Channel, &self.name) {
            return Err(invalid("name", error.to_string()));
        }
        if self.max_locations == 0 || usize::from(self.max_locations) > MAX_SOURCING_LOCATIONS {
            let reason = format!("{} is out of range 1..={MAX_SOURCING_LOCATIONS}", self.max_locations);
            return Err(invalid("max_locations", reason));
        }
        if let Some(km) = self.max_distance_km {
            if !km.is_finite() || km < 0.0 {
                return Err(invalid("max_distance_km", format!("{km} is not a finite distance >= 0")));
            }
        }
        if self.rank_by.len() > 3 {
            return Err(invalid("rank_by", format!("{} keys; at most 3", self.rank_by.len())));
        }
        for (index, key) in self.rank_by.iter().enumerate() {
            if self.rank_by[..index].contains(key) {
                return Err(invalid("rank_by", format!("{key:?} repeated")));
            }
        }
        for (field, count) in [
            ("exclude_kinds", self.exclude_kinds.len()),
            ("exclude_flags", self.exclude_flags.len()),
            ("exclude_locations", self.exclude_locations.len()),
            ("location_costs", self.location_costs.len()),
        ] {
            if count > MAX_PROFILE_LIST_ENTRIES {
                return Err(invalid(field, format!("{count} entries; at most {MAX_PROFILE_LIST_ENTRIES}")));
            }
        }
        for name in self.exclude_locations.iter().chain(self.location_costs.keys()) {
            if let Err(error) = validate_id(IdKind::Location, name) {
                let field = if self.exclude_locations.contains(name) { "exclude_locations" } else { "location_costs" };
                return Err(invalid(field, error.to_string()));
            }
        }
        Ok(())
    }
}

/// Why a profile file was refused. Nothing is swapped in on an error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("sourcing profiles are not valid TOML: {message}")]
    Parse { message: String },
    #[error("sourcing profile {profile:?}, field {field:?}: {reason}")]
    Invalid { profile: String, field: String, reason: String },
    #[error("{what}: {count} is more than the limit of {limit}")]
    TooMany { what: &'static str, count: usize, limit: usize },
}

/// Every profile by name; iteration is in name order (deterministic).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourcingProfiles {
    profiles: BTreeMap<String, Arc<SourcingProfile>>,
}

const FIELDS: [&str; 11] = [
    "rank_by",
    "minimise_locations",
    "max_locations",
    "max_distance_km",
    "exclude_kinds",
    "exclude_flags",
    "exclude_locations",
    "location_costs",
    "default_cost",
    "allow_backorder",
    "allow_preorder",
];

impl SourcingProfiles {
    /// Reads `[profile.<name>]` tables. A key left out takes the default of
    /// [`SourcingProfile::new`]; an unknown key, a wrong type or a value out of
    /// bounds is refused with the profile and the field named.
    pub fn from_toml(text: &str) -> Result<SourcingProfiles, ProfileError> {
        let document: toml::Table =
            text.parse().map_err(|e: toml::de::Error| ProfileError::Parse { message: e.to_string() })?;
        let mut profiles = BTreeMap::new();
        for (key, value) in document {
            if key != "profile" {
                return Err(ProfileError::Parse {
                    message: format!("unknown top-level key {key:?}; expected [profile.<name>]"),
                });
            }
            let toml::Value::Table(tables) = value else {
                return Err(ProfileError::Parse { message: "`profile` must be a table of tables".to_owned() });
            };
            if tables.len() > MAX_SOURCING_PROFILES {
                return Err(ProfileError::TooMany {
                    what: "sourcing profiles",
                    count: tables.len(),
                    limit: MAX_SOURCING_PROFILES,
                });
            }
            for (name, table) in tables {
                let profile = decode_profile(&name, table)?;
                profiles.insert(name, Arc::new(profile));
            }
        }
        Ok(SourcingProfiles { profiles })
    }

    /// Writes the profiles as `from_toml` reads them (a round trip gives them back).
    pub fn to_toml(&self) -> String {
        let mut tables = toml::Table::new();
        for (name, profile) in &self.profiles {
            let value = toml::Value::try_from(profile.as_ref()).expect("a profile serializes to TOML");
            tables.insert(name.clone(), value);
        }
        let mut document = toml::Table::new();
        document.insert("profile".to_owned(), toml::Value::Table(tables));
        toml::to_string(&document).expect("a table serializes to TOML")
    }

    /// The profiles a new engine starts with.
    ///
    /// - `default`: rank by distance then priority, fewest locations first, at most 3.
    /// - `nearest`: rank by distance only, nearest first regardless of splits, at most 8.
    /// - `single`: one location for the whole order (rank by distance then priority).
    /// - `pickup`: for an order collected at a named store: one location, the store.
    pub fn builtin() -> SourcingProfiles {
        let default = SourcingProfile::new("default");
        let nearest = SourcingProfile {
            rank_by: vec![RankKey::Distance],
            minimise_locations: false,
            max_locations: 8,
            ..SourcingProfile::new("nearest")
        };
        let single = SourcingProfile { max_locations: 1, ..SourcingProfile::new("single") };
        let pickup =
            SourcingProfile { rank_by: vec![RankKey::Priority], max_locations: 1, ..SourcingProfile::new("pickup") };
        let profiles = [default, nearest, single, pickup].into_iter().map(|p| (p.name.clone(), Arc::new(p))).collect();
        SourcingProfiles { profiles }
    }

    /// Builds a set from profiles made in code, validating each.
    pub fn from_profiles(
        profiles: impl IntoIterator<Item = SourcingProfile>,
    ) -> Result<SourcingProfiles, ProfileError> {
        let mut map = BTreeMap::new();
        for profile in profiles {
            profile.validate()?;
            map.insert(profile.name.clone(), Arc::new(profile));
            if map.len() > MAX_SOURCING_PROFILES {
                return Err(ProfileError::TooMany {
                    what: "sourcing profiles",
                    count: map.len(),
                    limit: MAX_SOURCING_PROFILES,
                });
            }
        }
        Ok(SourcingProfiles { profiles: map })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<SourcingProfile>> {
        self.profiles.get(name)
    }

    /// Profile names in byte order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}

/// Decodes one profile field by field, so an error names the field.
fn decode_profile(name: &str, value: toml::Value) -> Result<SourcingProfile, ProfileError> {
    let invalid = |field: &str, reason: String| ProfileError::Invalid {
        profile: name.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let toml::Value::Table(table) = value else {
        return Err(invalid("", "a profile must be a table".to_owned()));
    };
    let mut profile = SourcingProfile::new(name);
    for (field, value) in table {
        if !FIELDS.contains(&field.as_str()) {
            return Err(invalid(&field, format!("unknown field; expected one of {}", FIELDS.join(", "))));
        }
        let bad = |e: toml::de::Error| invalid(&field, e.message().to_owned());
        match field.as_str() {
            "rank_by" => profile.rank_by = value.try_into().map_err(bad)?,
            "minimise_locations" => profile.minimise_locations = value.try_into().map_err(bad)?,
            "max_locations" => profile.max_locations = value.try_into().map_err(bad)?,
            "max_distance_km" => profile.max_distance_km = Some(value.try_into().map_err(bad)?),
            "exclude_kinds" => profile.exclude_kinds = value.try_into().map_err(bad)?,
            "exclude_flags" => profile.exclude_flags = value.try_into().map_err(bad)?,
            "exclude_locations" => profile.exclude_locations = value.try_into().map_err(bad)?,
            "location_costs" => profile.location_costs = value.try_into().map_err(bad)?,
            "default_cost" => profile.default_cost = value.try_into().map_err(bad)?,
            "allow_backorder" => profile.allow_backorder = value.try_into().map_err(bad)?,
            "allow_preorder" => profile.allow_preorder = value.try_into().map_err(bad)?,
            _ => unreachable!("checked against FIELDS above"),
        }
    }
    profile.validate()?;
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let mut profile = SourcingProfile::new("p");
        assert_eq!(profile.validate(), Ok(()));
        profile.max_locations = 0;
        assert!(matches!(profile.validate(), Err(ProfileError::Invalid { field, .. }) if field == "max_locations"));
        profile.max_locations = 1;
        profile.rank_by = vec![RankKey::Cost, RankKey::Distance, RankKey::Priority, RankKey::Cost];
        assert!(matches!(profile.validate(), Err(ProfileError::Invalid { field, .. }) if field == "rank_by"));
        profile.rank_by = vec![];
        profile.max_distance_km = Some(f64::INFINITY);
        assert!(matches!(profile.validate(), Err(ProfileError::Invalid { field, .. }) if field == "max_distance_km"));
    }

    #[test]
    fn rank_keys_are_lowercase_in_toml() {
        let text = SourcingProfiles::builtin().to_toml();
        assert!(text.contains("\"distance\"") && text.contains("\"priority\""), "{text}");
        assert!(!text.contains("name ="), "the name is the table's key: {text}");
    }

    #[test]
    fn costs_default_when_a_location_is_not_listed() {
        let mut profile = SourcingProfile::new("p");
        profile.default_cost = 7;
        profile.location_costs.insert("WH".into(), 2);
        assert_eq!((profile.cost_of("WH"), profile.cost_of("other")), (2, 7));
    }
}
