//! Great-circle distances, and the spatial index of pickup stores.

use crate::model::{Catalogue, Coordinates, LocationId};
use rstar::primitives::GeomWithData;
use rstar::RTree;

/// Mean Earth radius (IUGG), in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance between two points on a sphere of radius
/// `EARTH_RADIUS_M` (the mean Earth radius), rounded to whole metres so that orderings built on it are
/// exact and deterministic.
///
/// Computed from the chord between the points' unit vectors,
/// `2 R asin(chord / 2)`, which equals the haversine formula and, with the vectors
/// kept per location in the catalogue, costs one square root and one arcsine.
pub fn distance_m(a: Coordinates, b: Coordinates) -> u32 {
    distance_between(&unit_vector(a), &unit_vector(b))
}

/// [`distance_m`] between unit vectors (see [`unit_vector`]).
pub(crate) fn distance_between(a: &[f64; 3], b: &[f64; 3]) -> u32 {
    let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
    let angle = 2.0 * (chord / 2.0).min(1.0).asin();
    let metres = angle * EARTH_RADIUS_M;
    debug_assert!((0.0..f64::from(u32::MAX)).contains(&metres));
    // Half up by truncation: the same as `round` for a value >= 0, without a call
    // into libm (the cast saturates, and a half circumference is 20,015,115 m).
    (metres + 0.5) as u32
}

/// Whether coordinates name a point on Earth: finite, latitude -90..=90, longitude -180..=180.
pub fn is_on_earth(point: Coordinates) -> bool {
    point.latitude.is_finite()
        && point.longitude.is_finite()
        && (-90.0..=90.0).contains(&point.latitude)
        && (-180.0..=180.0).contains(&point.longitude)
}

/// The point on the unit sphere for a latitude and longitude.
pub(crate) fn unit_vector(point: Coordinates) -> [f64; 3] {
    let (lat, lon) = (point.latitude.to_radians(), point.longitude.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// The squared chord between two unit-sphere points `metres` apart on Earth.
pub(crate) fn chord_squared(metres: f64) -> f64 {
    let angle = (metres / EARTH_RADIUS_M).min(std::f64::consts::PI);
    let chord = 2.0 * (angle / 2.0).sin();
    chord * chord
}

type StorePoint = GeomWithData<[f64; 3], LocationId>;

/// Pickup stores as points on the unit sphere, in an R*-tree: the straight-line
/// (chord) distance between unit-sphere points grows with the great-circle distance,
/// so nearest-first search by chord is nearest-first on Earth, with no special case
/// at the antimeridian or the poles. Built whole when the locations change.
///
/// It also keeps every location's unit vector, so sourcing measures a distance with
/// one square root and one arcsine.
#[derive(Clone, Debug, Default)]
pub struct StoreIndex {
    tree: RTree<StorePoint>,
    /// Indexed by `LocationId`: every location's point on the unit sphere.
    vectors: Vec<[f64; 3]>,
}

impl StoreIndex {
    /// Indexes every location flagged `pickup`.
    pub fn build(catalogue: &Catalogue) -> StoreIndex {
        let vectors: Vec<[f64; 3]> = catalogue.locations.iter().map(|l| unit_vector(l.coordinates)).collect();
        let points = catalogue
            .locations
            .iter()
            .filter(|location| location.flags.pickup)
            .map(|location| StorePoint::new(vectors[location.id.index()], location.id))
            .collect();
        StoreIndex { tree: RTree::bulk_load(points), vectors }
    }

    /// The unit vector of a location of the catalogue this index was built from.
    pub(crate) fn vector(&self, location: LocationId) -> Option<&[f64; 3]> {
        self.vectors.get(location.index())
    }

    pub fn len(&self) -> usize {
        self.tree.size()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Stores in order of (chord) distance from `point`, stopping beyond `radius_m`
    /// plus a metre of slack: the caller filters and orders on the exact whole-metre
    /// great-circle distance, which the slack keeps from being cut short by rounding.
    pub fn nearest(&self, point: Coordinates, radius_m: f64) -> impl Iterator<Item = LocationId> + '_ {
        let limit = chord_squared(radius_m + 2.0);
        self.tree
            .nearest_neighbor_iter_with_distance_2(&unit_vector(point))
            .take_while(move |(_, distance_2)| *distance_2 <= limit * (1.0 + 1e-9) + 1e-15)
            .map(|(store, _)| store.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(latitude: f64, longitude: f64) -> Coordinates {
        Coordinates { latitude, longitude }
    }

    /// The haversine formula, as a cross-check of the chord formula.
    fn haversine_m(a: Coordinates, b: Coordinates) -> f64 {
        let (lat_a, lat_b) = (a.latitude.to_radians(), b.latitude.to_radians());
        let d_lat = lat_b - lat_a;
        let d_lon = (b.longitude - a.longitude).to_radians();
        let h = (d_lat / 2.0).sin().powi(2) + lat_a.cos() * lat_b.cos() * (d_lon / 2.0).sin().powi(2);
        2.0 * h.sqrt().min(1.0).asin() * EARTH_RADIUS_M
    }

    #[test]
    fn the_chord_formula_agrees_with_haversine() {
        let points =
            [at(51.5, -0.12), at(-33.9, 151.2), at(0.0, 179.9), at(0.0, -179.9), at(89.9, 10.0), at(-89.9, -170.0)];
        for a in points {
            for b in points {
                let difference = f64::from(distance_m(a, b)) - haversine_m(a, b);
                assert!(difference.abs() <= 0.5 + 1e-6, "{a:?} {b:?}: {difference}");
            }
        }
    }

    #[test]
    fn distances_are_great_circle_metres() {
        // London to Paris: about 343.5 km.
        let d = distance_m(at(51.5074, -0.1278), at(48.8566, 2.3522));
        assert!((343_000..344_500).contains(&d), "{d}");
        assert_eq!(distance_m(at(10.0, 20.0), at(10.0, 20.0)), 0);
        // Across the antimeridian: one degree of longitude on the equator.
        let d = distance_m(at(0.0, 179.5), at(0.0, -179.5));
        assert!((111_100..111_300).contains(&d), "{d}");
        // Antipodes: half the circumference.
        let d = distance_m(at(0.0, 0.0), at(0.0, 180.0));
        assert_eq!(d, (std::f64::consts::PI * EARTH_RADIUS_M).round() as u32);
    }

    #[test]
    fn chord_grows_with_distance() {
        let mut previous = -1.0;
        for metres in [0.0, 1.0, 1_000.0, 1e6, 1e7, 2e7, 3e7] {
            let chord = chord_squared(metres);
            assert!(chord >= previous);
            previous = chord;
        }
        assert!((chord_squared(1e9) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn coordinates_off_earth_are_refused() {
        assert!(is_on_earth(at(90.0, -180.0)));
        assert!(!is_on_earth(at(90.1, 0.0)));
        assert!(!is_on_earth(at(0.0, 180.5)));
        assert!(!is_on_earth(at(f64::NAN, 0.0)));
        assert!(!is_on_earth(at(0.0, f64::INFINITY)));
    }
}
