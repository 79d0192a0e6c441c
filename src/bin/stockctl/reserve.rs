//! The reservation lifecycle: `reserve`, `commit`, `fulfil`, `release`, `extend`, `restock`.

use crate::args::{LineSpec, Session, When};
use crate::output::{emit, fields, utc, Align, Failure, Table};
use crate::query::{write_position, write_reservation};
use stockd::engine::{PartialStep, ReserveLine, ReserveRequest, RestockRequest};
use stockd::model::Bucket;
use stockd::protocol::WireReservation;

/// 15 minutes, a checkout's usual hold.
const DEFAULT_TTL_MS: u64 = 15 * 60 * 1_000;

#[derive(clap::Args)]
pub struct ReserveArgs {
    /// The cart or order id; the same call again (a retry) is answered from the first outcome.
    pub id: String,
    /// What to hold, as SKU@LOCATION=QUANTITY (all lines or none).
    #[arg(required = true, value_name = "SKU@LOCATION=QTY")]
    pub lines: Vec<LineSpec>,
    /// How long the hold lasts unless committed (1 s to 7 days).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_TTL_MS)]
    pub ttl_ms: u64,
    /// Accept incoming supply expected by then (pre-orders): ms since the epoch, RFC 3339, a date, or +7d.
    #[arg(long, value_name = "WHEN")]
    pub promise_by: Option<When>,
}

#[derive(clap::Args)]
pub struct IdArgs {
    /// The reservation id.
    pub id: String,
}

/// The whole reservation, or with `--step` and `--line`, only those units.
#[derive(clap::Args)]
pub struct StepArgs {
    /// The reservation id.
    pub id: String,
    /// A step id for a partial fulfil or release (applied once: a retry with the same step id is harmless).
    #[arg(long, value_name = "STEP", requires = "lines")]
    pub step: Option<String>,
    /// The units of the step, as SKU@LOCATION=QUANTITY (repeat for more lines).
    #[arg(long = "line", value_name = "SKU@LOCATION=QTY", requires = "step")]
    pub lines: Vec<LineSpec>,
}

#[derive(clap::Args)]
pub struct ExtendArgs {
    /// The reservation id.
    pub id: String,
    /// The new time to live, from now.
    #[arg(long, value_name = "MS")]
    pub ttl_ms: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum BucketArg {
    /// Back on sale.
    Sellable,
    /// Held apart as damaged.
    Damaged,
    /// Held apart for quality control.
    QualityControl,
}

impl From<BucketArg> for Bucket {
    fn from(bucket: BucketArg) -> Bucket {
        match bucket {
            BucketArg::Sellable => Bucket::Sellable,
            BucketArg::Damaged => Bucket::Damaged,
            BucketArg::QualityControl => Bucket::QualityControl,
        }
    }
}

#[derive(clap::Args)]
pub struct RestockArgs {
    /// The reservation the units were fulfilled on.
    pub reservation: String,
    /// A step id for this return (applied once).
    #[arg(long, value_name = "STEP")]
    pub step: String,
    /// What comes back and where to, as SKU@LOCATION=QUANTITY (any location).
    #[arg(long, value_name = "SKU@LOCATION=QTY")]
    pub line: LineSpec,
    /// Where the units go.
    #[arg(long, value_enum, default_value = "sellable")]
    pub bucket: BucketArg,
}

pub async fn reserve(session: &Session, args: ReserveArgs) -> Result<bool, Failure> {
    let request = ReserveRequest {
        id: args.id,
        lines: args
            .lines
            .into_iter()
            .map(|line| ReserveLine { sku: line.sku, location: line.location, quantity: line.quantity })
            .collect(),
        ttl_ms: args.ttl_ms,
        promise_by: args.promise_by.map(|When(at)| at),
    };
    let outcome = session.client().await?.reserve(request).await?;
    emit(session.json(), &outcome, |out| {
        let replayed = if outcome.replayed { "yes: answered from the first reserve, nothing new held" } else { "no" };
        fields(
            out,
            &[
                ("reservation", outcome.id.clone()),
                ("state", format!("{:?}", outcome.state)),
                ("expires", utc(outcome.expires_at.millis())),
                ("replayed", replayed.to_owned()),
            ],
        )?;
        writeln!(out)?;
        let mut table = Table::new(&[
            ("sku", Align::Left),
            ("location", Align::Left),
            ("held", Align::Right),
            ("kind", Align::Left),
        ]);
        for line in &outcome.lines {
            table.row(vec![
                line.sku.clone(),
                line.location.clone(),
                line.quantity.to_string(),
                format!("{:?}", line.kind),
            ]);
        }
        table.write(out)
    })?;
    Ok(true)
}

fn print_reservation(session: &Session, reservation: &WireReservation) -> Result<bool, Failure> {
    emit(session.json(), reservation, |out| write_reservation(out, reservation))?;
    Ok(true)
}

fn partial(args: &mut StepArgs) -> Option<PartialStep> {
    let step_id = args.step.take()?;
    Some(PartialStep { step_id, lines: std::mem::take(&mut args.lines).into_iter().map(Into::into).collect() })
}

pub async fn commit(session: &Session, args: IdArgs) -> Result<bool, Failure> {
    let reservation = session.client().await?.commit(&args.id).await?;
    print_reservation(session, &reservation)
}

pub async fn fulfil(session: &Session, mut args: StepArgs) -> Result<bool, Failure> {
    let step = partial(&mut args);
    let reservation = session.client().await?.fulfil(&args.id, step).await?;
    print_reservation(session, &reservation)
}

pub async fn release(session: &Session, mut args: StepArgs) -> Result<bool, Failure> {
    let step = partial(&mut args);
    let reservation = session.client().await?.release(&args.id, step).await?;
    print_reservation(session, &reservation)
}

pub async fn extend(session: &Session, args: ExtendArgs) -> Result<bool, Failure> {
    let reservation = session.client().await?.extend(&args.id, args.ttl_ms).await?;
    print_reservation(session, &reservation)
}

pub async fn restock(session: &Session, args: RestockArgs) -> Result<bool, Failure> {
    let request = RestockRequest {
        reservation_id: args.reservation,
        step_id: args.step,
        line: args.line.into(),
        bucket: args.bucket.into(),
    };
    let position = session.client().await?.restock(request).await?;
    emit(session.json(), &position, |out| write_position(out, &position))?;
    Ok(true)
}
