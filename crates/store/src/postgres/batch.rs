//! Statements written to one connection together, in order, before any answer is awaited: a
//! decision's whole transaction (BEGIN, its statements, COMMIT) costs one round trip.
//!
//! tokio-postgres writes a request to the connection the first time its future is polled (once
//! its statement is prepared); [`Batch`] prepares every statement first (from the connection's
//! cache after the first use) and then polls the requests once each, in order, in one pass. The
//! server runs them in that order. A statement whose result decides whether the rest may stand
//! (a claim) is checked by the server itself ([`Batch::push_claim`]), since COMMIT is already on
//! its way when the answer arrives.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use deadpool_postgres::GenericClient;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use crate::StoreResult;

/// One parameter of a batched statement, owned by the batch.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// The SQLSTATE `opendls_claim` raises (migration 0003) when a claim finds nothing to claim.
pub(super) const CLAIM_REFUSED: &str = "OD409";

/// Statements to send together, in the order pushed.
#[derive(Default)]
pub(super) struct Batch {
    statements: Vec<(String, Vec<Param>)>,
}

/// One request on its way: its future until it is answered, then the answer.
enum Request<'a> {
    Sent(Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>),
    Answered(Result<u64, tokio_postgres::Error>),
}

impl Request<'_> {
    /// Polls a request not yet answered; whether it is answered now.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if let Request::Sent(future) = self {
            match future.as_mut().poll(cx) {
                Poll::Ready(answer) => *self = Request::Answered(answer),
                Poll::Pending => return false,
            }
        }
        true
    }

    fn failed(&self) -> bool {
        matches!(self, Request::Answered(Err(_)))
    }

    fn into_answer(self) -> Result<u64, tokio_postgres::Error> {
        match self {
            Request::Answered(answer) => answer,
            Request::Sent(_) => unreachable!("every request is answered before its answer is read"),
        }
    }
}

impl Batch {
    /// Adds a statement; `$1`.. in `sql` are `params` in order.
    pub(super) fn push(&mut self, sql: impl Into<String>, params: Vec<Param>) {
        self.statements.push((sql.into(), params));
    }

    /// Adds a data-changing statement (an `UPDATE` or `DELETE` without `RETURNING`) that must
    /// change at least one row: when it changes none, the server refuses the transaction with
    /// `refusal`, which the node reads as [`crate::StoreError::Conflict`].
    pub(super) fn push_claim(&mut self, sql: &str, mut params: Vec<Param>, refusal: String) {
        params.push(Box::new(refusal));
        let refusal_param = params.len();
        let sql = format!(
            "WITH claimed AS ({sql} RETURNING 1) \
             SELECT opendls_claim(EXISTS (SELECT 1 FROM claimed), ${refusal_param})"
        );
        self.push(sql, params);
    }

    /// Whether nothing was pushed.
    pub(super) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Sends the statements on `db`, inside whatever transaction `db` is in, and returns how
    /// many rows each changed.
    pub(super) async fn send(self, db: &impl GenericClient) -> StoreResult<Vec<u64>> {
        self.run(db, None).await
    }

    /// BEGIN, the statements and COMMIT, in one round trip: all of them stay or none does.
    /// `db` must not be in a transaction.
    pub(super) async fn commit(self, db: &deadpool_postgres::Client) -> StoreResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        let control = Control {
            begin: db.prepare_cached("BEGIN").await?,
            commit: db.prepare_cached("COMMIT").await?,
            rollback: db.prepare_cached("ROLLBACK").await?,
        };
        self.run(db, Some(&control)).await.map(drop)
    }

    async fn run(self, db: &impl GenericClient, control: Option<&Control>) -> StoreResult<Vec<u64>> {
        let mut prepared = Vec::with_capacity(self.statements.len());
        for (sql, _) in &self.statements {
            prepared.push(db.prepare_cached(sql).await?);
        }
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = self
            .statements
            .iter()
            .map(|(_, params)| params.iter().map(|param| param.as_ref() as &(dyn ToSql + Sync)).collect())
            .collect();
        let mut requests = Vec::with_capacity(prepared.len() + 2);
        if let Some(control) = control {
            requests.push(Request::Sent(db.execute(&control.begin, &[])));
        }
        for (statement, params) in prepared.iter().zip(&params) {
            requests.push(Request::Sent(db.execute(statement, params)));
        }
        let mut ending: Option<Request<'_>> = None;
        std::future::poll_fn(|cx| {
            let mut answered = true;
            for request in &mut requests {
                answered &= request.poll(cx);
            }
            if let (Some(control), None) = (control, &ending) {
                // Written in the same pass as the statements. A request that failed before it
                // was written (a parameter that cannot be encoded) must not leave the others
                // committed: the transaction then ends in ROLLBACK.
                let last =
                    if requests.iter().any(Request::failed) { &control.rollback } else { &control.commit };
                ending = Some(Request::Sent(db.execute(last, &[])));
            }
            if let Some(ending) = &mut ending {
                answered &= ending.poll(cx);
            }
            if answered { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
        let mut answers = requests.into_iter().map(Request::into_answer);
        if control.is_some() {
            answers.next().transpose()?;
        }
        // The first failure is the cause: the server refuses everything after it in a transaction.
        let changed = answers.collect::<Result<Vec<u64>, _>>()?;
        if let Some(ending) = ending {
            ending.into_answer()?;
        }
        Ok(changed)
    }
}

/// The statements that open and close a batch's transaction.
struct Control {
    begin: Statement,
    commit: Statement,
    rollback: Statement,
}

/// The parameters of one batched statement: `owned![a, b]` boxes each value.
macro_rules! owned {
    ($($param:expr),* $(,)?) => {
        vec![$(Box::new($param) as $crate::postgres::batch::Param),*]
    };
}
pub(super) use owned;
