//! Sourcing and click & collect: `source` (reserve where the profile says),
//! `stores` (the store finder), `demand` (lost-demand signals) and `profiles`.

use crate::args::{Session, When};
use crate::output::{emit, fields, utc, Align, Failure, Table};
use std::str::FromStr;
use stockd::engine::{DemandRank, Destination, OrderLine, SourcedReserveRequest, StoreQuery};
use stockd::model::Coordinates;
use stockd::protocol::WireDemandCounters;

/// 15 minutes, a checkout's usual hold.
const DEFAULT_TTL_MS: u64 = 15 * 60 * 1_000;

/// `sku=quantity`: an order line, with no location (the server chooses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLineSpec(pub OrderLine);

impl FromStr for OrderLineSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<OrderLineSpec, String> {
        let (sku, quantity) = text.rsplit_once('=').ok_or_else(|| format!("{text:?} is not SKU=QUANTITY"))?;
        if sku.is_empty() {
            return Err(format!("{text:?} is not SKU=QUANTITY"));
        }
        let quantity = quantity.trim().parse().map_err(|_| format!("{text:?}: {quantity:?} is not a quantity"))?;
        Ok(OrderLineSpec(OrderLine { sku: sku.to_owned(), quantity }))
    }
}

/// `latitude,longitude` in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point(pub Coordinates);

impl FromStr for Point {
    type Err = String;

    fn from_str(text: &str) -> Result<Point, String> {
        let shape = || format!("{text:?} is not LATITUDE,LONGITUDE (degrees, such as 51.5072,-0.1276)");
        let (latitude, longitude) = text.split_once(',').ok_or_else(shape)?;
        let latitude: f64 = latitude.trim().parse().map_err(|_| shape())?;
        let longitude: f64 = longitude.trim().parse().map_err(|_| shape())?;
        Ok(Point(Coordinates { latitude, longitude }))
    }
}

#[derive(clap::Args)]
pub struct SourceArgs {
    /// The cart or order id; the same call again (a retry) is answered from the first outcome.
    pub id: String,
    /// What to hold, as SKU=QUANTITY (all lines or none; the server picks the locations).
    #[arg(required = true, value_name = "SKU=QTY")]
    pub lines: Vec<OrderLineSpec>,
    /// The sales channel whose locations may serve the order.
    #[arg(long)]
    pub channel: String,
    /// Ship to this point: LATITUDE,LONGITUDE.
    #[arg(long, value_name = "LAT,LON", required_unless_present = "pickup", conflicts_with = "pickup")]
    pub to: Option<Point>,
    /// Or hold everything at this pickup store (click & collect).
    #[arg(long, value_name = "STORE")]
    pub pickup: Option<String>,
    /// The sourcing profile (`stockctl profiles show` lists them).
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// How long the hold lasts unless committed (1 s to 7 days).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TTL_MS)]
    pub ttl_ms: u64,
    /// Accept incoming supply expected by then, if the profile allows pre-orders.
    #[arg(long, value_name = "WHEN")]
    pub promise_by: Option<When>,
}

pub async fn source(session: &Session, args: SourceArgs) -> Result<bool, Failure> {
    let destination = match (args.to, args.pickup) {
        (Some(Point(point)), None) => Destination::Delivery { point },
        (None, Some(store)) => Destination::Pickup { store },
        _ => return Err(Failure::Usage("give either --to LAT,LON or --pickup STORE".to_owned())),
    };
    let request = SourcedReserveRequest {
        id: args.id,
        channel: args.channel,
        lines: args.lines.into_iter().map(|line| line.0).collect(),
        destination,
        profile: args.profile,
        ttl_ms: args.ttl_ms,
        promise_by: args.promise_by.map(|When(at)| at),
    };
    let outcome = session.client().await?.reserve_sourced(request).await?;
    emit(session.json(), &outcome, |out| {
        let reservation = &outcome.reservation;
        let replayed =
            if reservation.replayed { "yes: answered from the first reserve, nothing new held" } else { "no" };
        fields(
            out,
            &[
                ("reservation", reservation.id.clone()),
                ("state", format!("{:?}", reservation.state)),
                ("expires", utc(reservation.expires_at.millis())),
                ("locations", outcome.locations_used.to_string()),
                ("search", if outcome.exact { "exact" } else { "work bound reached: greedy choice" }.to_owned()),
                ("replayed", replayed.to_owned()),
            ],
        )?;
        writeln!(out)?;
        let mut table = Table::new(&[
            ("line", Align::Right),
            ("sku", Align::Left),
            ("location", Align::Left),
            ("held", Align::Right),
            ("kind", Align::Left),
            ("distance km", Align::Right),
        ]);
        for line in &outcome.allocation {
            table.row(vec![
                line.line.to_string(),
                line.sku.clone(),
                line.location.clone(),
                line.quantity.to_string(),
                format!("{:?}", line.kind),
                line.distance_m.map_or_else(|| "-".to_owned(), |m| format!("{:.1}", f64::from(m) / 1_000.0)),
            ]);
        }
        table.write(out)
    })?;
    Ok(true)
}

#[derive(clap::Args)]
pub struct StoresArgs {
    /// The basket: SKU=QUANTITY (a store must have every line now).
    #[arg(required = true, value_name = "SKU=QTY")]
    pub lines: Vec<OrderLineSpec>,
    /// The sales channel whose pickup stores are searched.
    #[arg(long)]
    pub channel: String,
    /// The customer's position: LATITUDE,LONGITUDE.
    #[arg(long, value_name = "LAT,LON")]
    pub near: Point,
    /// Search radius.
    #[arg(long, default_value_t = 25.0)]
    pub radius_km: f64,
    /// Most stores listed.
    #[arg(long, default_value_t = 10)]
    pub limit: u16,
}

pub async fn stores(session: &Session, args: StoresArgs) -> Result<bool, Failure> {
    let lines: Vec<OrderLine> = args.lines.into_iter().map(|line| line.0).collect();
    let skus: Vec<String> = lines.iter().map(|line| line.sku.clone()).collect();
    let query =
        StoreQuery { channel: args.channel, point: args.near.0, radius_km: args.radius_km, lines, limit: args.limit };
    let stores = session.client().await?.find_stores(query).await?;
    emit(session.json(), &stores, |out| {
        if stores.is_empty() {
            return writeln!(out, "no pickup store within {} km can serve every line now", args.radius_km);
        }
        let mut table =
            Table::new(&[("store", Align::Left), ("distance km", Align::Right), ("available", Align::Left)]);
        for store in &stores {
            let available: Vec<String> =
                skus.iter().zip(&store.available).map(|(sku, units)| format!("{sku}={units}")).collect();
            table.row(vec![
                store.location.clone(),
                format!("{:.1}", f64::from(store.distance_m) / 1_000.0),
                available.join(" "),
            ]);
        }
        table.write(out)
    })?;
    Ok(true)
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum RankArg {
    /// Units asked by reservations refused for lack of stock.
    Refused,
    /// Units of reservations that expired unpaid.
    Expired,
    /// Units reserved as backorders.
    Backorder,
}

impl From<RankArg> for DemandRank {
    fn from(rank: RankArg) -> DemandRank {
        match rank {
            RankArg::Refused => DemandRank::RefusedUnits,
            RankArg::Expired => DemandRank::ExpiredUnits,
            RankArg::Backorder => DemandRank::BackorderUnits,
        }
    }
}

#[derive(clap::Args)]
pub struct DemandArgs {
    /// One SKU's counters; without it, the top SKUs.
    #[arg(long)]
    pub sku: Option<String>,
    /// Only sourced reserves of this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// The counter the top list is ranked by.
    #[arg(long, value_enum, default_value = "refused", conflicts_with = "sku")]
    pub by: RankArg,
    /// How many SKUs the top list shows.
    #[arg(long, default_value_t = 20, conflicts_with = "sku")]
    pub top: u32,
}

pub async fn demand(session: &Session, args: DemandArgs) -> Result<bool, Failure> {
    let client = session.client().await?;
    let headers = [
        ("sku", Align::Left),
        ("refused", Align::Right),
        ("units", Align::Right),
        ("expired", Align::Right),
        ("units", Align::Right),
        ("backorders", Align::Right),
        ("units", Align::Right),
    ];
    let row = |sku: &str, c: &WireDemandCounters| {
        vec![
            sku.to_owned(),
            c.refused_reservations.to_string(),
            c.refused_units.to_string(),
            c.expired_reservations.to_string(),
            c.expired_units.to_string(),
            c.backorder_reservations.to_string(),
            c.backorder_units.to_string(),
        ]
    };
    if let Some(sku) = &args.sku {
        let counters = client.demand(sku, args.channel.as_deref()).await?;
        return emit(session.json(), &counters, |out| {
            let mut table = Table::new(&headers);
            table.row(row(sku, &counters));
            table.write(out)
        })
        .map(|()| true);
    }
    let entries = client.demand_top(args.channel.as_deref(), args.by.into(), args.top).await?;
    emit(session.json(), &entries, |out| {
        if entries.is_empty() {
            return writeln!(out, "no lost demand recorded since the server started");
        }
        let mut table = Table::new(&headers);
        for entry in &entries {
            table.row(row(&entry.sku, &entry.counters));
        }
        table.write(out)
    })?;
    Ok(true)
}

#[derive(clap::Subcommand)]
pub enum ProfilesCommand {
    /// Print the sourcing profiles in force (TOML).
    Show,
    /// Replace every sourcing profile with those of a TOML file (validated by the server first).
    Set {
        /// The TOML file (docs/ENGINE.md, "Sourcing", shows the format).
        file: std::path::PathBuf,
    },
}

pub async fn profiles(session: &Session, command: ProfilesCommand) -> Result<bool, Failure> {
    let in_force = match command {
        ProfilesCommand::Show => session.client().await?.sourcing_profiles().await?,
        ProfilesCommand::Set { file } => {
            let toml = std::fs::read_to_string(&file)
                .map_err(|error| Failure::Usage(format!("{}: {error}", file.display())))?;
            session.client().await?.set_sourcing_profiles(toml).await?
        }
    };
    #[derive(serde::Serialize)]
    struct Shown<'a> {
        names: &'a [String],
        toml: &'a str,
    }
    emit(session.json(), &Shown { names: &in_force.names, toml: &in_force.toml }, |out| {
        write!(out, "{}", in_force.toml)
    })?;
    Ok(true)
}
