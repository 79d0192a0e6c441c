//! Sourcing profiles: the built-in set, TOML in and out, and refusals that name
//! the profile and the field.

use super::*;
use stockd::engine::{ProfileError, RankKey};
use stockd::model::LocationKind;

#[test]
fn the_builtin_profiles_are_the_documented_ones() {
    let profiles = SourcingProfiles::builtin();
    assert_eq!(profiles.names().collect::<Vec<_>>(), vec!["default", "nearest", "pickup", "single"]);
    let default = profiles.get("default").unwrap();
    assert_eq!(default.rank_by, vec![RankKey::Distance, RankKey::Priority]);
    assert!(default.minimise_locations);
    assert_eq!(default.max_locations, 3);
    let nearest = profiles.get("nearest").unwrap();
    assert_eq!(
        (nearest.rank_by.clone(), nearest.minimise_locations, nearest.max_locations),
        (vec![RankKey::Distance], false, 8)
    );
    assert_eq!(profiles.get("single").unwrap().max_locations, 1);
    assert_eq!(profiles.get("pickup").unwrap().max_locations, 1);
    let engine = Engine::default();
    assert_eq!(*engine.sourcing_profiles(), profiles, "a new engine starts with them");
}

const FILE: &str = r#"
[profile.cheap]
rank_by = ["cost", "distance"]
minimise_locations = false
max_locations = 2
max_distance_km = 250.5
exclude_kinds = ["DropShipVendor"]
exclude_flags = ["pickup"]
exclude_locations = ["STORE-9"]
location_costs = { "WH-1" = 3, "WH-2" = 7 }
default_cost = 5
allow_backorder = true
allow_preorder = true

[profile.minimal]
"#;

#[test]
fn toml_reads_every_field_defaults_the_rest_and_round_trips() {
    let profiles = SourcingProfiles::from_toml(FILE).unwrap();
    assert_eq!(profiles.names().collect::<Vec<_>>(), vec!["cheap", "minimal"]);
    let cheap = profiles.get("cheap").unwrap();
    assert_eq!(cheap.name, "cheap");
    assert_eq!(cheap.rank_by, vec![RankKey::Cost, RankKey::Distance]);
    assert!(!cheap.minimise_locations);
    assert_eq!(cheap.max_locations, 2);
    assert_eq!(cheap.max_distance_km, Some(250.5));
    assert_eq!(cheap.exclude_kinds, vec![LocationKind::DropShipVendor]);
    assert_eq!(cheap.exclude_flags, vec![stockd::engine::LocationFlag::Pickup]);
    assert_eq!(cheap.exclude_locations, vec!["STORE-9".to_owned()]);
    assert_eq!((cheap.cost_of("WH-1"), cheap.cost_of("WH-2"), cheap.cost_of("other")), (3, 7, 5));
    assert!(cheap.allow_backorder && cheap.allow_preorder);
    assert_eq!(**profiles.get("minimal").unwrap(), SourcingProfile::new("minimal"));
    let text = profiles.to_toml();
    assert_eq!(SourcingProfiles::from_toml(&text).unwrap(), profiles, "{text}");
    let builtin = SourcingProfiles::builtin();
    assert_eq!(SourcingProfiles::from_toml(&builtin.to_toml()).unwrap(), builtin);
}

fn invalid(text: &str) -> (String, String, String) {
    match SourcingProfiles::from_toml(text) {
        Err(ProfileError::Invalid { profile, field, reason }) => (profile, field, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn bad_profiles_are_refused_naming_the_profile_and_the_field() {
    let cases = [
        ("[profile.p]\nmax_locations = 0", "max_locations"),
        ("[profile.p]\nmax_locations = 9", "max_locations"),
        ("[profile.p]\nmax_locations = 300", "max_locations"),
        ("[profile.p]\nrank_by = [\"fastest\"]", "rank_by"),
        ("[profile.p]\nrank_by = [\"cost\", \"cost\"]", "rank_by"),
        ("[profile.p]\nmax_distance_km = -1.0", "max_distance_km"),
        ("[profile.p]\nmax_distance_km = nan", "max_distance_km"),
        ("[profile.p]\nexclude_kinds = [\"Castle\"]", "exclude_kinds"),
        ("[profile.p]\nexclude_flags = [\"open\"]", "exclude_flags"),
        ("[profile.p]\nexclude_locations = [\"\"]", "exclude_locations"),
        ("[profile.p]\nlocation_costs = { \"WH\" = -1 }", "location_costs"),
        ("[profile.p]\nallow_backorder = \"yes\"", "allow_backorder"),
        ("[profile.p]\nspeed = 3", "speed"),
    ];
    for (text, field) in cases {
        let (profile, got, reason) = invalid(text);
        assert_eq!((profile.as_str(), got.as_str()), ("p", field), "{text}: {reason}");
        assert!(!reason.is_empty());
    }
    let (profile, field, _) = invalid("[profile.\"bad name\"]\n");
    assert_eq!((profile.as_str(), field.as_str()), ("bad name", "name"));
    assert!(matches!(SourcingProfiles::from_toml("[profile.p"), Err(ProfileError::Parse { .. })));
    assert!(matches!(SourcingProfiles::from_toml("[other.p]"), Err(ProfileError::Parse { .. })));
    assert!(matches!(SourcingProfiles::from_toml("profile = 3"), Err(ProfileError::Parse { .. })));
    let many: String = (0..=stockd::limits::MAX_SOURCING_PROFILES).map(|i| format!("[profile.p{i}]\n")).collect();
    assert!(matches!(SourcingProfiles::from_toml(&many), Err(ProfileError::TooMany { .. })));
    let error = SourcingProfiles::from_toml("[profile.p]\nmax_locations = 0").unwrap_err();
    assert!(error.to_string().contains("\"p\"") && error.to_string().contains("max_locations"), "{error}");
}

#[test]
fn swapping_profiles_is_immediate_and_whole() {
    let engine = Engine::default();
    let only = SourcingProfiles::from_toml("[profile.only]\nmax_locations = 1").unwrap();
    engine.set_sourcing_profiles(only.clone());
    assert_eq!(engine.sourcing_profiles().names().collect::<Vec<_>>(), vec!["only"]);
    assert!(engine.sourcing_profiles().get("default").is_none());
    assert_eq!(*engine.sourcing_profiles(), only);
}
