//! Transfers and the arithmetic of balances.
//!
//! A balance is never stored: it is replayed from the initial balances and a sequence of
//! transfers (a chain, then a server's local log). Replay fails loudly on an overdraft, so a
//! double spend cannot hide in a running total.
//!
//! A long chain is not replayed on every request, though: [`Flows`] folds each appended
//! transfer into every account's net flow and the lowest point it reached, which is enough
//! to tell *exactly* whether a replay from any initial balance would succeed, and what it
//! would give ([`Flows::balances`]). Where it would fail, the caller replays in full, so the
//! error is the replay's own. A quickcheck below holds the two to the same answer.

use crate::ids::{Account, TxId, MAX_ACCOUNTS};
use crate::signature::Signature;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A transfer `(S, R, amt)`: `amount` whole units from `from` to `to`, asked for by the
/// client `id.client`, and signed by the sender account's owner (crate::signature).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Transfer {
    /// Unique per transfer; retries reuse it.
    pub id: TxId,
    /// The sender `S`, debited.
    pub from: Account,
    /// The receiver `R`, credited.
    pub to: Account,
    /// Whole units, at least 1.
    pub amount: u64,
    /// The sender account owner's signature over the four fields above.
    pub signature: Signature,
}

impl Transfer {
    /// The transfer with the model's signature by its sender's owner: what the model's
    /// clients send, and what tests build.
    pub fn model_signed(id: TxId, from: Account, to: Account, amount: u64) -> Transfer {
        let mut t = Transfer {
            id,
            from,
            to,
            amount,
            signature: Signature::Model {
                signer: from,
                digest: 0,
            },
        };
        t.signature = crate::signature::model_signature(&t, false);
        t
    }
}

impl fmt::Display for Transfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}, {})", self.from, self.to, self.amount)
    }
}

/// Why a server refused a transfer. Every refusal reaches the client; none is silent.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
pub enum Rejection {
    /// The sender is not the account of the client asking (nor of the server asked).
    #[error("account {from} is not owned by client {client}")]
    NotOwner { client: Account, from: Account },
    /// An account letter beyond the bank's accounts.
    #[error("account {account} does not exist")]
    UnknownAccount { account: Account },
    /// Sender and receiver are the same account.
    #[error("a transfer from {account} to itself")]
    SameAccount { account: Account },
    /// Zero units.
    #[error("the amount must be at least 1")]
    ZeroAmount,
    /// Consensus ran and the balance still does not cover the amount.
    #[error("insufficient funds: balance {balance}, amount {amount}")]
    InsufficientFunds { balance: u64, amount: u64 },
    /// Another transfer already waits under this id; this one was not executed.
    #[error("id {id} already names a different transfer")]
    IdInUse { id: TxId },
    /// The transfer does not carry its sender account's signature over its own content.
    #[error("transfer {id} is not signed by the owner of account {from}")]
    BadSignature { id: TxId, from: Account },
    /// No quorum answered within the server's election budget; nothing was executed.
    #[error("no quorum of servers answered; nothing was executed, try again later")]
    NoQuorum,
}

/// A bank that cannot exist: the one check of its size and its money, shared by the server's
/// configuration, the cluster file and the model's configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// Accounts are letters, one per server.
    #[error("{0} accounts: a bank has 1 to 26, one per server")]
    AccountCount(usize),
    /// The bank's total must fit a `u64`, so no balance can overflow.
    #[error("{initial} units times {accounts} accounts overflows 64 bits")]
    MoneyOverflow { initial: u64, accounts: usize },
}

/// Checks that `accounts` accounts of `initial` units each make a bank.
pub fn check_bank(accounts: usize, initial: u64) -> Result<(), BankError> {
    if accounts == 0 || accounts > MAX_ACCOUNTS {
        return Err(BankError::AccountCount(accounts));
    }
    if initial.checked_mul(accounts as u64).is_none() {
        return Err(BankError::MoneyOverflow { initial, accounts });
    }
    Ok(())
}

/// Checks what can be checked without balances: ownership, account names, amount.
pub fn validate(transfer: &Transfer, owner: Account, accounts: usize) -> Result<(), Rejection> {
    for account in [transfer.from, transfer.to, transfer.id.client] {
        if account.index() >= accounts {
            return Err(Rejection::UnknownAccount { account });
        }
    }
    if transfer.from != owner || transfer.id.client != owner {
        return Err(Rejection::NotOwner {
            client: transfer.id.client,
            from: transfer.from,
        });
    }
    if transfer.from == transfer.to {
        return Err(Rejection::SameAccount {
            account: transfer.from,
        });
    }
    if transfer.amount == 0 {
        return Err(Rejection::ZeroAmount);
    }
    Ok(())
}

/// A transfer that cannot be applied to a set of balances.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The sender's balance is below the amount.
    #[error("{id} overdraws {account}: balance {balance}, amount {amount}")]
    Overdraft {
        id: TxId,
        account: Account,
        balance: u64,
        amount: u64,
    },
    /// The transfer names an account that does not exist.
    #[error("{id} names account {account}, which does not exist")]
    UnknownAccount { id: TxId, account: Account },
}

impl LedgerError {
    /// The transfer that could not be applied.
    pub fn id(&self) -> TxId {
        match self {
            LedgerError::Overdraft { id, .. } | LedgerError::UnknownAccount { id, .. } => *id,
        }
    }
}

/// Every account's balance, indexed by account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Balances(Vec<u64>);

impl Balances {
    /// `accounts` accounts holding `initial` units each.
    pub fn new(accounts: usize, initial: u64) -> Balances {
        Balances(vec![initial; accounts])
    }

    /// The one replay: `accounts` accounts of `initial` units, then `transfers` in order. The
    /// first transfer that overdraws or names an unknown account fails the replay.
    pub fn replay<'a>(
        accounts: usize,
        initial: u64,
        transfers: impl IntoIterator<Item = &'a Transfer>,
    ) -> Result<Balances, LedgerError> {
        let mut b = Balances::new(accounts, initial);
        b.apply_all(transfers)?;
        Ok(b)
    }

    /// One account's balance (0 for an account that does not exist).
    pub fn of(&self, account: Account) -> u64 {
        self.0.get(account.index()).copied().unwrap_or(0)
    }

    /// Moves the transfer's amount, or fails leaving the balances unchanged.
    pub fn apply(&mut self, t: &Transfer) -> Result<(), LedgerError> {
        for account in [t.from, t.to] {
            if account.index() >= self.0.len() {
                return Err(LedgerError::UnknownAccount { id: t.id, account });
            }
        }
        let balance = self.0[t.from.index()];
        if balance < t.amount {
            return Err(LedgerError::Overdraft {
                id: t.id,
                account: t.from,
                balance,
                amount: t.amount,
            });
        }
        self.0[t.from.index()] = balance - t.amount;
        // Cannot overflow: the total is fixed and was validated to fit in a u64.
        self.0[t.to.index()] += t.amount;
        Ok(())
    }

    /// Applies each transfer in order.
    pub fn apply_all<'a>(
        &mut self,
        transfers: impl IntoIterator<Item = &'a Transfer>,
    ) -> Result<(), LedgerError> {
        transfers.into_iter().try_for_each(|t| self.apply(t))
    }

    /// The sum over all accounts (wide, so a broken ledger cannot overflow the check).
    pub fn total(&self) -> u128 {
        self.0.iter().map(|&b| u128::from(b)).sum()
    }

    /// The balances in account order.
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }
}

/// The net effect of a sequence of transfers on each account, whatever the initial balances:
/// derived data, folded one transfer at a time, so that a chain's balances cost as many
/// steps as there are accounts, not transfers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flows {
    /// Per account index: the net flow (credits minus debits) so far, and the lowest net
    /// flow right after any of its debits (0 if none). Only as long as the highest account
    /// named.
    accounts: Vec<Flow>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Flow {
    net: i128,
    low: i128,
}

impl Flows {
    /// Folds one more transfer in.
    pub fn apply(&mut self, t: &Transfer) {
        let highest = t.from.index().max(t.to.index());
        if self.accounts.len() <= highest {
            self.accounts.resize(highest + 1, Flow::default());
        }
        let from = &mut self.accounts[t.from.index()];
        from.net -= i128::from(t.amount);
        from.low = from.low.min(from.net);
        self.accounts[t.to.index()].net += i128::from(t.amount);
    }

    /// What [`Balances::replay`] from `accounts` accounts of `initial` units would give, or
    /// `None` exactly when it would fail. A replay fails at a transfer naming an unknown
    /// account, or at a debit leaving its sender below zero, that is, below `-initial` in
    /// net flow: the lowest point says whether any debit did.
    pub fn balances(&self, accounts: usize, initial: u64) -> Option<Balances> {
        if self.accounts.len() > accounts {
            return None;
        }
        let initial_wide = i128::from(initial);
        if self.accounts.iter().any(|f| initial_wide + f.low < 0) {
            return None;
        }
        let mut b = Balances::new(accounts, initial);
        for (balance, f) in b.0.iter_mut().zip(&self.accounts) {
            *balance = u64::try_from(initial_wide + f.net)
                .expect("no overdraft, and a bank's total fits in a u64");
        }
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, TestResult};

    fn t(from: u8, to: u8, amount: u64) -> Transfer {
        Transfer::model_signed(
            TxId::new(Account(from), 1),
            Account(from),
            Account(to),
            amount,
        )
    }

    #[test]
    fn validate_names_each_fault() {
        let a = Account(0);
        assert_eq!(validate(&t(0, 1, 5), a, 3), Ok(()));
        assert_eq!(
            validate(&t(1, 0, 5), a, 3),
            Err(Rejection::NotOwner {
                client: Account(1),
                from: Account(1)
            })
        );
        assert_eq!(
            validate(&t(0, 7, 5), a, 3),
            Err(Rejection::UnknownAccount {
                account: Account(7)
            })
        );
        assert_eq!(
            validate(&t(0, 0, 5), a, 3),
            Err(Rejection::SameAccount { account: a })
        );
        assert_eq!(validate(&t(0, 1, 0), a, 3), Err(Rejection::ZeroAmount));
    }

    #[test]
    fn a_bank_has_1_to_26_accounts_and_its_money_fits_64_bits() {
        assert_eq!(check_bank(3, 10), Ok(()));
        assert_eq!(check_bank(0, 10), Err(BankError::AccountCount(0)));
        assert_eq!(check_bank(27, 10), Err(BankError::AccountCount(27)));
        assert_eq!(
            check_bank(2, u64::MAX),
            Err(BankError::MoneyOverflow {
                initial: u64::MAX,
                accounts: 2
            })
        );
        assert_eq!(check_bank(1, u64::MAX), Ok(()));
    }

    #[test]
    fn overdraft_leaves_balances_unchanged() {
        let mut b = Balances::new(2, 5);
        assert!(b.apply(&t(0, 1, 6)).is_err());
        assert_eq!(b.as_slice(), &[5, 5]);
        b.apply(&t(0, 1, 5)).unwrap();
        assert_eq!(b.as_slice(), &[0, 10]);
    }

    quickcheck! {
        /// Whatever transfers are tried, applied ones conserve money and no balance goes
        /// negative (a u64 cannot, so an overdraft must be refused rather than wrap).
        fn replay_conserves_money(initial: u16, moves: Vec<(u8, u8, u16)>) -> TestResult {
            let accounts = 4;
            let mut b = Balances::new(accounts, u64::from(initial));
            for (from, to, amount) in moves {
                let tr = t(from % 4, to % 4, u64::from(amount));
                let before = b.clone();
                match b.apply(&tr) {
                    Ok(()) => {
                        if before.of(tr.from) < tr.amount { return TestResult::failed(); }
                    }
                    Err(_) => if b != before || before.of(tr.from) >= tr.amount {
                        return TestResult::failed();
                    },
                }
            }
            TestResult::from_bool(b.total() == u128::from(initial) * accounts as u128)
        }

        /// The folded flows answer exactly what the replay answers, success or failure, for
        /// any transfers (unknown accounts included) and any bank size.
        fn flows_agree_with_the_replay(initial: u16, accounts: u8, moves: Vec<(u8, u8, u16)>) -> bool {
            let accounts = usize::from(accounts % 6) + 1;
            let transfers: Vec<Transfer> = moves
                .into_iter()
                .map(|(from, to, amount)| t(from % 7, to % 7, u64::from(amount)))
                .collect();
            let mut flows = Flows::default();
            transfers.iter().for_each(|tr| flows.apply(tr));
            flows.balances(accounts, u64::from(initial))
                == Balances::replay(accounts, u64::from(initial), &transfers).ok()
        }
    }
}
