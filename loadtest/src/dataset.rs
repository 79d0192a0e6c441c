//! The seeded network the load runs against: SKUs stocked at every location
//! (distribution centres, a dark store, stores, each with coordinates), four channels,
//! kits, the flash sale's hot SKUs and the feed's ledger positions.
//!
//! The same `--seed`, `--skus`, `--locations` and `--kits` give the same network. Every
//! name starts with `LT-` so that the harness never touches a real catalogue's names
//! on a shared server; the hot SKUs also carry the run's tag, so that each flash sale
//! starts from exactly the stock this run loaded.

use crate::params::Params;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Zipf;
use serde::{Deserialize, Serialize};
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow};

/// UK cities the locations are scattered around (latitude, longitude).
const CITIES: [(&str, f64, f64); 20] = [
    ("London", 51.507, -0.128),
    ("Birmingham", 52.486, -1.890),
    ("Manchester", 53.483, -2.244),
    ("Leeds", 53.800, -1.549),
    ("Glasgow", 55.864, -4.252),
    ("Edinburgh", 55.953, -3.188),
    ("Bristol", 51.455, -2.588),
    ("Liverpool", 53.408, -2.991),
    ("Newcastle", 54.978, -1.618),
    ("Sheffield", 53.381, -1.470),
    ("Cardiff", 51.481, -3.179),
    ("Nottingham", 52.954, -1.158),
    ("Southampton", 50.910, -1.404),
    ("Leicester", 52.637, -1.140),
    ("Belfast", 54.597, -5.930),
    ("Norwich", 52.630, 1.297),
    ("Plymouth", 50.375, -4.143),
    ("Aberdeen", 57.150, -2.094),
    ("Cambridge", 52.205, 0.122),
    ("Oxford", 51.752, -1.258),
];

pub const CHANNEL_WEB: &str = "LT-web";
pub const CHANNEL_APP: &str = "LT-app";
pub const CHANNEL_CLICK_COLLECT: &str = "LT-click-collect";
pub const CHANNEL_MARKETPLACE: &str = "LT-marketplace";
pub const CHANNELS: [&str; 4] = [CHANNEL_WEB, CHANNEL_APP, CHANNEL_CLICK_COLLECT, CHANNEL_MARKETPLACE];

/// Units of each ledger position at the start (adjustments never drive it to 0).
pub const LEDGER_STOCK: u32 = 1_000_000;

#[derive(Clone, Debug)]
pub struct Kit {
    pub name: String,
    /// (SKU index, units per kit).
    pub components: Vec<(u32, u32)>,
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub skus: u32,
    pub seed: u64,
    pub locations: Vec<LocationSpec>,
    pub channels: Vec<ChannelSpec>,
    pub kits: Vec<Kit>,
    /// Locations that ship to customers (distribution centres, the dark store, some stores).
    pub ship: Vec<u16>,
    /// Stores that serve click & collect.
    pub pickup: Vec<u16>,
    /// Distribution centres.
    pub dcs: Vec<u16>,
    /// Where most home deliveries ship from: the distribution centres and the dark store.
    pub hubs: Vec<u16>,
    pub hot: Vec<String>,
    /// Where the hot SKUs are stocked (the first distribution centre).
    pub hot_location: u16,
    pub hot_stock: u32,
    pub ledger: Vec<String>,
    pub ledger_location: u16,
    /// SKU popularity: rank 1 is SKU 0.
    pub popularity: Zipf<f64>,
    /// Listing-page popularity (page 1 is the first `page_size` SKUs).
    pub page_popularity: Zipf<f64>,
    pub page_size: u32,
}

/// The dataset as reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub seed: u64,
    pub skus: u32,
    pub locations: u32,
    pub distribution_centres: u32,
    pub stores: u32,
    pub ship_locations: u32,
    pub pickup_locations: u32,
    pub channels: Vec<String>,
    pub kits: u32,
    pub positions: u64,
    pub hot_skus: Vec<String>,
    pub hot_stock_each: u32,
    pub ledger_positions: u32,
    /// How long loading it took (catalogue and bulk load), in milliseconds.
    pub load_ms: u64,
}

pub fn sku_name(index: u32) -> String {
    format!("LT-{index:07}")
}

impl Dataset {
    /// The network for `params`; `tag` names this run's hot SKUs.
    pub fn generate(params: &Params, tag: &str) -> Dataset {
        let mut rng = StdRng::seed_from_u64(params.seed ^ 0x6c6f_6164_7465_7374);
        let count = params.locations as usize;
        let dc_count = (count / 8).max(1).min(count);
        let dark = if count >= 10 { 1 } else { 0 };
        let mut locations = Vec::with_capacity(count);
        let (mut ship, mut pickup, mut dcs) = (Vec::new(), Vec::new(), Vec::new());
        for index in 0..count {
            let (_city, latitude, longitude) = CITIES[rng.random_range(0..CITIES.len())];
            let coordinates = Coordinates {
                latitude: latitude + rng.random_range(-0.15..0.15),
                longitude: longitude + rng.random_range(-0.15..0.15),
            };
            let (name, kind, flags, priority) = if index < dc_count {
                let flags = LocationFlags { ships: true, pickup: false };
                (format!("LT-DC-{:02}", index + 1), LocationKind::DistributionCentre, flags, 1)
            } else if index < dc_count + dark {
                let flags = LocationFlags { ships: true, pickup: false };
                (format!("LT-DARK-{:02}", index - dc_count + 1), LocationKind::DarkStore, flags, 5)
            } else {
                // A quarter of the stores also ship (ship-from-store).
                let flags = LocationFlags { ships: rng.random_bool(0.25), pickup: true };
                (format!("LT-STORE-{:04}", index - dc_count - dark + 1), LocationKind::Store, flags, 10)
            };
            let id = index as u16;
            if flags.ships {
                ship.push(id);
            }
            if flags.pickup {
                pickup.push(id);
            }
            if kind == LocationKind::DistributionCentre {
                dcs.push(id);
            }
            locations.push(LocationSpec { name, kind, coordinates, flags, priority });
        }
        let names =
            |ids: &[u16]| -> Vec<String> { ids.iter().map(|&id| locations[id as usize].name.clone()).collect() };
        let all: Vec<u16> = (0..count as u16).collect();
        let app: Vec<u16> = all
            .iter()
            .copied()
            .filter(|id| locations[*id as usize].kind != LocationKind::Store || ship.contains(id))
            .collect();
        let channel = |name: &str, ids: &[u16], buffer| ChannelSpec {
            name: name.to_owned(),
            locations: names(if ids.is_empty() { &all } else { ids }),
            excluded: Vec::new(),
            buffer,
        };
        let channels = vec![
            channel(CHANNEL_WEB, &ship, ChannelBuffer::Percent(5)),
            channel(CHANNEL_APP, &app, ChannelBuffer::Units(2)),
            channel(CHANNEL_CLICK_COLLECT, &pickup, ChannelBuffer::None),
            channel(CHANNEL_MARKETPLACE, &dcs, ChannelBuffer::Percent(10)),
        ];
        let kits = (0..params.kits)
            .map(|index| {
                let parts = rng.random_range(2..=4u32.min(params.skus));
                let mut components: Vec<(u32, u32)> = Vec::new();
                while components.len() < parts as usize {
                    let sku = rng.random_range(0..params.skus);
                    if !components.iter().any(|(s, _)| *s == sku) {
                        components.push((sku, rng.random_range(1..=2)));
                    }
                }
                Kit { name: format!("LT-KIT-{:04}", index + 1), components }
            })
            .collect();
        let pages = params.skus.div_ceil(params.page_size).max(1);
        let hubs: Vec<u16> =
            all.iter().copied().filter(|id| locations[*id as usize].kind != LocationKind::Store).collect();
        Dataset {
            skus: params.skus,
            seed: params.seed,
            locations,
            channels,
            kits,
            ship: if ship.is_empty() { all.clone() } else { ship },
            pickup: if pickup.is_empty() { all.clone() } else { pickup },
            dcs,
            hubs,
            hot: (0..params.hot_skus).map(|i| format!("LT-HOT-{tag}-{}", i + 1)).collect(),
            hot_location: 0,
            hot_stock: params.hot_stock,
            ledger: (0..params.ledger_skus).map(|i| format!("LT-LEDGER-{:05}", i + 1)).collect(),
            ledger_location: 0,
            popularity: Zipf::new(f64::from(params.skus), params.zipf).expect("a valid Zipf"),
            page_popularity: Zipf::new(f64::from(pages), params.zipf).expect("a valid Zipf"),
            page_size: params.page_size,
        }
    }

    pub fn location_name(&self, index: u16) -> &str {
        &self.locations[index as usize].name
    }

    /// Every position, seeded: each SKU at each location, the hot SKUs and the ledger
    /// positions at the first distribution centre.
    pub fn rows(&self) -> Vec<PositionRow> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x726f_7773);
        let mut rows =
            Vec::with_capacity(self.skus as usize * self.locations.len() + self.hot.len() + self.ledger.len());
        for sku in 0..self.skus {
            let name = sku_name(sku);
            for location in 0..self.locations.len() as u16 {
                let (on_hand, safety_stock) = initial_stock(&mut rng, self.locations[location as usize].kind);
                rows.push(PositionRow {
                    sku: name.clone(),
                    location: self.location_name(location).to_owned(),
                    on_hand,
                    safety_stock,
                    damaged: 0,
                    quality_control: 0,
                    backorder_limit: 0,
                });
            }
        }
        for (names, on_hand) in [(&self.hot, self.hot_stock), (&self.ledger, LEDGER_STOCK)] {
            for name in names {
                rows.push(PositionRow {
                    sku: name.clone(),
                    location: self.location_name(self.hot_location).to_owned(),
                    on_hand,
                    safety_stock: 0,
                    damaged: 0,
                    quality_control: 0,
                    backorder_limit: 0,
                });
            }
        }
        rows
    }

    /// A popular SKU (Zipf by rank).
    pub fn popular_sku(&self, rng: &mut StdRng) -> u32 {
        let rank = rng.sample(self.popularity) as u32;
        rank.clamp(1, self.skus) - 1
    }

    /// The first SKU of a popular listing page.
    pub fn popular_page(&self, rng: &mut StdRng) -> u32 {
        let page = rng.sample(self.page_popularity) as u32;
        (page.max(1) - 1) * self.page_size
    }

    pub fn summary(&self, load_ms: u64) -> DatasetSummary {
        let count = |kind| self.locations.iter().filter(|l| l.kind == kind).count() as u32;
        DatasetSummary {
            seed: self.seed,
            skus: self.skus,
            locations: self.locations.len() as u32,
            distribution_centres: count(LocationKind::DistributionCentre),
            stores: count(LocationKind::Store),
            ship_locations: self.ship.len() as u32,
            pickup_locations: self.pickup.len() as u32,
            channels: self.channels.iter().map(|c| c.name.clone()).collect(),
            kits: self.kits.len() as u32,
            positions: u64::from(self.skus) * self.locations.len() as u64 + (self.hot.len() + self.ledger.len()) as u64,
            hot_skus: self.hot.clone(),
            hot_stock_each: self.hot_stock,
            ledger_positions: self.ledger.len() as u32,
            load_ms,
        }
    }
}

/// On hand and safety stock of a position at a location of `kind`.
pub fn initial_stock(rng: &mut StdRng, kind: LocationKind) -> (u32, u32) {
    match kind {
        LocationKind::DistributionCentre | LocationKind::Warehouse => {
            (rng.random_range(1_000..10_000), rng.random_range(0..20))
        }
        LocationKind::DarkStore => (rng.random_range(50..500), rng.random_range(0..5)),
        _ => {
            // A fifth of store positions are out of stock.
            let on_hand = if rng.random_bool(0.2) { 0 } else { rng.random_range(1..40) };
            (on_hand, rng.random_range(0..3))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(skus: u32, locations: u32) -> Params {
        Params { skus, locations, kits: 5, ..Params::default() }
    }

    #[test]
    fn the_same_seed_gives_the_same_network() {
        let a = Dataset::generate(&params(500, 20), "a");
        let b = Dataset::generate(&params(500, 20), "a");
        assert_eq!(a.locations, b.locations);
        assert_eq!(a.channels, b.channels);
        assert_eq!(a.rows(), b.rows());
        let other = Dataset::generate(&Params { seed: 7, ..params(500, 20) }, "a");
        assert_ne!(a.rows(), other.rows());
    }

    #[test]
    fn the_network_has_every_kind_of_place() {
        let data = Dataset::generate(&params(100, 20), "x");
        let summary = data.summary(0);
        assert_eq!(summary.locations, 20);
        assert_eq!(summary.distribution_centres, 2);
        assert_eq!(summary.stores, 17);
        assert!(data.locations.iter().any(|l| l.kind == LocationKind::DarkStore));
        assert_eq!(data.channels.len(), 4);
        assert!(data.channels.iter().all(|c| !c.locations.is_empty()));
        assert_eq!(data.rows().len() as u64, summary.positions);
        assert_eq!(summary.positions, 100 * 20 + 3 + 50);
        for location in &data.locations {
            assert!((49.0..59.0).contains(&location.coordinates.latitude), "{location:?}");
        }
        for kit in &data.kits {
            assert!((2..=4).contains(&kit.components.len()));
        }
        // One location: it does everything.
        let tiny = Dataset::generate(&params(3, 1), "x");
        assert_eq!((tiny.ship.len(), tiny.pickup.len(), tiny.dcs.len(), tiny.hubs.len()), (1, 1, 1, 1));
        assert_eq!(data.hubs.len(), 3, "2 distribution centres and the dark store");
    }

    #[test]
    fn popularity_is_a_long_tail() {
        let data = Dataset::generate(&params(1_000, 2), "x");
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = vec![0u32; 1_000];
        for _ in 0..100_000 {
            counts[data.popular_sku(&mut rng) as usize] += 1;
        }
        // Zipf s=1 over 1,000: the top SKU takes ~13 %, the top 10 ~39 %.
        assert!((11_000..15_000).contains(&counts[0]), "{}", counts[0]);
        let top10: u32 = counts[..10].iter().sum();
        assert!((35_000..43_000).contains(&top10), "{top10}");
        assert!(counts[0] > counts[1] && counts[1] > counts[9]);
        let first = data.popular_page(&mut rng);
        assert!(first.is_multiple_of(48) && first < 1_000);
    }
}
