//! The vocabulary of inventory: names, quantities, time, locations, channels, kits
//! and positions. Plain data and pure rules; no locks and no I/O.

mod catalogue;
mod ids;
mod names;
mod position;
mod time;

pub use catalogue::{
    Catalogue, Channel, ChannelBuffer, ChannelSpec, Coordinates, Kit, KitComponent, Location, LocationFlags,
    LocationKind, LocationSpec,
};
pub use ids::{LocationId, SkuId};
pub use names::{validate_id, validate_reference, IdKind};
pub use position::{clamp_to_u32, Bucket, HoldCheck, HoldKind, IncomingSupply, Position, PositionRow, PositionView};
pub use time::Timestamp;
