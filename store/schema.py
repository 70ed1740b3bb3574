"""The store's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Timestamps are `*_at` BigInteger epoch microseconds and money `*_e4` BigInteger 1/10000 units
(see store.codec). `features` and `order_gaps` are caches derived from contacts, orders and
events; `feature_dirty` lists the contacts whose cache rows are stale.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

meta = Table(
    "segmail_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("email_key", String(320), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opted_in_at", BigInteger),
    Column("timezone", String(64)),
    Column("country", String(2)),
    Column("language", String(16)),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("source", String(32), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # schema v2: what Mailchimp says (kept apart from the contact's own time zone and country)
    Column("mc_timezone", String(64)),
    Column("mc_country", String(2)),
    Column("mc_seen_at", BigInteger),  # last pull that saw the member; NULL = not in the audience
    # stored in email_key order: the feature build reads contacts, orders and events in step
    sqlite_with_rowid=False,
)

orders = Table(
    "orders",
    metadata,
    # Keyed by contact and time so per-contact aggregates and repurchase gaps read the table in
    # order (on SQLite a WITHOUT ROWID table is stored in key order); the natural key is the
    # unique (source, order_id) that upserts target.
    Column("email_key", String(320), primary_key=True),
    Column("created_at", BigInteger, primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("total_e4", BigInteger, nullable=False),
    Column("refunded_e4", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    # stored as "|a|b|" so `"a" in categories` is one LIKE and per-contact concatenation stays delimited
    Column("categories", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("country", String(2)),  # schema v3: the order's billing (else shipping) address
    Column("province", String(64)),
    UniqueConstraint("source", "order_id", name="uq_orders_natural_key"),
    sqlite_with_rowid=False,
)

events = Table(
    "events",
    metadata,
    Column("email_key", String(320), primary_key=True),
    Column("type", String(8), primary_key=True),
    Column("at", BigInteger, primary_key=True),
    Column("campaign_id", String(64), primary_key=True),  # "" when unknown, so the key stays total
    # schema v8: a campaign's recipients for the campaign report, read in order (README "Reports")
    Index("ix_events_campaign", "campaign_id", "type", "email_key", "at"),
    sqlite_with_rowid=False,  # the key is the row: one B-tree instead of two, ~40 % faster imports
)

cursors = Table(
    "cursors",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Desired memberships: the last stored compute.
memberships = Table(
    "memberships",
    metadata,
    Column("segment", String(64), primary_key=True),
    Column("email_key", String(320), primary_key=True),
    Column("entered_at", BigInteger, nullable=False),
    Column("run_id", Integer, nullable=False),
)

# Memberships Mailchimp has confirmed (a tag push succeeded); the next push sends the difference.
esp_memberships = Table(
    "esp_memberships",
    metadata,
    Column("segment", String(64), primary_key=True),
    Column("email_key", String(320), primary_key=True),
    Column("confirmed_at", BigInteger, nullable=False),
)

# Per-email refusals of the last push attempt (e.g. not in the audience), kept for the run summary.
esp_push_errors = Table(
    "esp_push_errors",
    metadata,
    Column("segment", String(64), primary_key=True),
    Column("email_key", String(320), primary_key=True),
    Column("action", String(8), nullable=False),  # add | remove
    Column("error", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("as_of", BigInteger),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("status", String(16), nullable=False),  # running | ok | failed
    Column("stats", Text, nullable=False, default="{}"),  # JSON
    Column("error", Text),
)

features = Table(
    "features",
    metadata,
    Column("email_key", String(320), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("country", String(2)),
    Column("language", String(16)),
    Column("timezone", String(64)),
    Column("opted_in_at", BigInteger),
    Column("orders_count", Integer, nullable=False),
    Column("total_spent_e4", BigInteger, nullable=False),
    Column("first_order_at", BigInteger),
    Column("last_order_at", BigInteger),
    Column("last_open_at", BigInteger),
    Column("last_click_at", BigInteger),
    Column("last_engagement_at", BigInteger),
    Column("categories", Text, nullable=False),
    # schema v4: paid orders in the reporting currency, the ones total_spent adds up (store.currency)
    Column("money_orders_count", Integer, nullable=False, server_default="0"),
    # schema v11: the VIP threshold (the k-th biggest spender) and the number of buyers read straight
    # from this index (store/shop_stats.py): 0.26 s of sort and count at 1M contacts became under 10 ms,
    # every compute. Covering: SQLite would otherwise look each row up to test the partial condition.
    Index(
        "ix_features_spend",
        "total_spent_e4",
        "money_orders_count",
        sqlite_where=text("money_orders_count >= 1"),
        postgresql_where=text("money_orders_count >= 1"),
    ),
    sqlite_with_rowid=False,
)

# Gaps between consecutive paid orders of population contacts only. Schema v11: indexed by value, so
# the shop's median gap is read at an offset of the index (1.1 s of sorting 750,000 gaps at 1M contacts
# became milliseconds, every compute); a whole rebuild of the cache drops the value indexes and makes
# them again after the bulk insert (store/features.py).
order_gaps = Table(
    "order_gaps",
    metadata,
    Column("email_key", String(320), nullable=False),
    Column("gap_us", BigInteger, nullable=False),
    Index("ix_order_gaps_email", "email_key"),
    Index("ix_order_gaps_gap", "gap_us"),
)
STAT_INDEXES = ("ix_features_spend", "ix_order_gaps_gap")  # what the shop statistics read

feature_dirty = Table(
    "feature_dirty",
    metadata,
    Column("email_key", String(320), primary_key=True),
    sqlite_with_rowid=False,
)

# Service instances (one row each, refreshed by a heartbeat): who is active, who waits on standby.
instances = Table(
    "service_instances",
    metadata,
    Column("instance_id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("role", String(16), nullable=False),  # active | standby | stopped
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("version", String(32), nullable=False),
)

# The send ledger. A bucket is one Mailchimp campaign: recipients with the same slot and the same
# rendered mail. Its row is written (with every recipient's ledger row) before any ESP call, and
# its Mailchimp ids as soon as Mailchimp returns them, so a resumed send continues the bucket.
send_buckets = Table(
    "send_buckets",
    metadata,
    # "<campaign>-<hash of campaign, slot, variant>-<batch>"; stores from before schema v4 hold ids
    # without the campaign prefix (and a hash without it): they are only ever read back, never rebuilt
    Column("bucket_id", String(64), primary_key=True),
    Column("campaign", String(64), nullable=False),
    Column("slot_at", BigInteger, nullable=False),  # the planned instant (UTC µs)
    Column("send_at", BigInteger, nullable=False),  # when Mailchimp is asked to deliver
    Column("variant", Text, nullable=False),  # JSON of the template dimensions
    Column("recipients", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # planned | scheduled | sent | failed | cancelled
    Column("segment_id", BigInteger),
    Column("mc_campaign_id", String(64)),
    Column("title", String(255), nullable=False),
    Column("error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_send_buckets_status", "status"),
)

send_ledger = Table(
    "send_ledger",
    metadata,
    # one row per (campaign, recipient, occurrence): the primary key is the exactly-once guarantee
    Column("campaign", String(64), primary_key=True),
    Column("email_key", String(320), primary_key=True),
    Column("occurrence", String(64), primary_key=True),  # "2026-12-01" for `at`; "enter:<µs>" for on_enter
    Column("bucket_id", String(64)),  # NULL when skipped
    Column("slot_at", BigInteger, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("tz_source", String(24), nullable=False),
    # planned | scheduled | sent | skipped (a documented rule) | unsent (its bucket failed: see send_unsent)
    Column("status", String(16), nullable=False),
    # why skipped: frequency_cap, late, "status <Mailchimp status>"; "holdout" for status holdout
    Column("reason", String(64)),
    Column("created_at", BigInteger, nullable=False),
    # schema v8 (sending/experiments.py): the recipient's A/B variant ("" without variants; a held-out
    # recipient's is the one they would have got) and phase of a test-then-winner broadcast ("test",
    # "winner"; "" otherwise). Status "holdout": held out by holdout_percent, never sent.
    Column("variant", String(64), nullable=False, server_default=""),
    Column("ab_phase", String(8), nullable=False, server_default=""),
    Index("ix_send_ledger_recipient", "email_key", "slot_at"),
    Index("ix_send_ledger_bucket", "bucket_id"),
)

# Unsent errors (sending/unsent.py): planned recipients left without the mail for a reason that is
# none of the documented rules. Keyed like the ledger, so a repeated failure updates its row; a row
# goes when its recipient is bucketed after all or an operator acknowledges it.
send_unsent = Table(
    "send_unsent",
    metadata,
    Column("campaign", String(64), primary_key=True),
    Column("email_key", String(320), primary_key=True),
    Column("occurrence", String(64), primary_key=True),
    Column("reason", String(32), nullable=False),  # bucket_not_created | template_error | bucket_failed | ...
    Column("detail", Text),  # the error (a template problem, Mailchimp's refusal); never personal data
    Column("bucket_id", String(64)),
    Column("slot_at", BigInteger, nullable=False),  # the planned instant (UTC µs)
    Column("recorded_at", BigInteger, nullable=False),
)

# A test-then-winner broadcast's decision (schema v8; jobs/experiments.py): one row per campaign and
# occurrence, written once (a second instance's insert fails on the key and it reads this one), with
# the figures it was made on as JSON (each variant's recipients and results, the intervals compared).
ab_decisions = Table(
    "ab_decisions",
    metadata,
    Column("campaign", String(64), primary_key=True),
    Column("occurrence", String(64), primary_key=True),
    Column("decided_at", BigInteger, nullable=False),
    Column("metric", String(32), nullable=False),  # click_rate | revenue_per_recipient
    Column("winner", String(64), nullable=False),
    Column(
        "clear", Integer, nullable=False
    ),  # 1: the interval rule picked it; 0: no clear winner (the first)
    Column("decision", Text, nullable=False),  # the plain statement shown in reports
    Column("figures", Text, nullable=False),  # JSON
)

# Fitted predictive models (schema v7; jobs/predict.py): one row per `predict fit`, kept as a history so a
# refit can be compared with the last. BG/NBD's time unit is the day; log_likelihood is BG/NBD's.
predict_fits = Table(
    "predict_fits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("as_of", BigInteger, nullable=False),  # the as-of instant the orders were read up to (UTC µs)
    Column("fitted_at", BigInteger, nullable=False),
    Column("customers", Integer, nullable=False),
    Column("repeat_customers", Integer, nullable=False),
    Column("log_likelihood", Double, nullable=False),
    Column("r", Double, nullable=False),
    Column("alpha", Double, nullable=False),
    Column("a", Double, nullable=False),
    Column("b", Double, nullable=False),
    Column("p", Double, nullable=False),
    Column("q", Double, nullable=False),
    Column("v", Double, nullable=False),
    Index("ix_predict_fits_as_of", "as_of"),
)


# A cache like `features` (no migration: created with the schema): every buyer's prediction scores as
# of one T with one fit, reused by the next compute while store.predict_scores' fingerprint holds.
predict_scores = Table(
    "predict_scores",
    metadata,
    Column("email_key", String(320), primary_key=True),
    # nullable: a non-finite score (never expected) is stored as missing rather than failing the compute
    Column("p_alive", Double),
    Column("expected_orders_90d", Double),
    Column("predicted_clv_365d", Double),
    Column("clv_percentile", Double),
    Column("rfm_r", Integer),
    Column("rfm_f", Integer),
    Column("rfm_m", Integer),
    Column("rfm_group", String(32)),
)

# Caches beside predict_scores (no migration), see segments/day_reference.py: the sorted values the
# day's relative scores rank against, one row per value kind holding the whole sorted column as
# little-endian float64 bytes (read back in milliseconds; values only, no row is anybody's).
predict_reference = Table(
    "predict_reference",
    metadata,
    Column("name", String(8), primary_key=True),
    Column("sorted_values", LargeBinary, nullable=False),
)
# The orders written since the scores were made (store/predict_dirty.py): each order's owner and
# created_at, before and after the write, so a compute rescores just those buyers instead of scanning
# every order to find out whether anything changed. email_key "" stands for "unknown owners" (a write
# of older orders, an erasure): the next scoring that reaches its created_at rescores everyone. A small
# table, read whole: rows leave as soon as a scoring's T passes them.
predict_dirty = Table(
    "predict_dirty",
    metadata,
    Column("email_key", String(320), primary_key=True),
    Column("created_at", BigInteger, primary_key=True),
)

# Erased people (schema v9, issue 15; store/suppression.py): a keyed hash of each one's normalised email,
# HMAC-SHA256 under the store's own random secret, never the email. Every import and pull drops a
# record whose email hashes to a row here, so an erased person is never stored again.
suppressions = Table(
    "suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

# Every erasure, suppression, access export and retention pass (schema v9; store/audit.py): when, which
# request, how many people and rows, by which command. Never an email or any other personal data.
privacy_audit = Table(
    "privacy_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # erasure | suppression | access | retention
    Column(
        "request", String(255), nullable=False
    ),  # "cli", "shopify customers/redact", "mailchimp: gone", ...
    Column("command", String(255), nullable=False),  # the command and its options, never its arguments
    Column("people", Integer, nullable=False),
    Column("rows", Text, nullable=False),  # JSON: table -> rows deleted, anonymised or exported
    Index("ix_privacy_audit_at", "at"),
)

# Segment history (schema v10): every entry into and exit from a segment, by the compute run that made it,
# so sizes, entries, exits and movements can be reported for any past period. Stored by contact, like
# orders and events, so a report reads a contact's history beside its orders; a compute reads its own
# rows back through the index by run. A store migrated to v10 starts with its memberships of that moment
# as entries (their entered_at and run); earlier exits are unknown.
segment_history = Table(
    "segment_history",
    metadata,
    Column("email_key", String(320), primary_key=True),
    Column("segment", String(64), primary_key=True),
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),  # the compute's as-of instant (UTC µs)
    Column("kind", String(5), nullable=False),  # enter | exit
    # a compute's own rows by (run, segment, kind); per-run counts for the reports, without a sort
    Index("ix_segment_history_run", "run_id", "segment", "kind", "at"),
    sqlite_with_rowid=False,
)

# Campaign results (schema v10; jobs/results_pull.py): every sent Mailchimp campaign the pull has seen, its
# target and Mailchimp's report figures as of the last read. Those figures are also what decides a re-read:
# a campaign whose figures have not moved since is not read again.
campaign_results = Table(
    "campaign_results",
    metadata,
    Column("mc_campaign_id", String(64), primary_key=True),
    Column("list_id", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("sent_at", BigInteger),  # Mailchimp's send_time (UTC µs)
    Column("recipients", Integer, nullable=False),  # emails_sent
    Column("target", String(8)),  # segmail | tag | other; NULL: another audience's campaign
    Column("campaign", String(64)),  # segmail's campaign (its send bucket's); NULL for the others
    Column("segment", String(64)),  # the segment it targeted; NULL: "other"
    Column("opens_total", Integer, nullable=False),
    Column("proxy_opens", Integer, nullable=False),  # opens_total - proxy_excluded_opens
    Column("unique_opens", Integer, nullable=False),
    Column("clicks_total", Integer, nullable=False),
    Column("unique_clicks", Integer, nullable=False),
    Column("unsubscribed", Integer, nullable=False),
    Column("bounces", Integer, nullable=False),  # hard + soft + syntax errors
    Column("activity_read_at", BigInteger),  # when email-activity was last read (UTC µs); NULL: never
    Column("updated_at", BigInteger, nullable=False),
)

# Per-recipient results Mailchimp reports besides opens and clicks (which are `events`, shared with the
# features): bounces, unsubscribes, and the opens Mailchimp flags as machine (proxy) opens.
campaign_activity = Table(
    "campaign_activity",
    metadata,
    Column("campaign_id", String(64), primary_key=True),
    Column("email_key", String(320), primary_key=True),
    Column("kind", String(12), primary_key=True),  # bounce | unsubscribe | proxy_open
    Column("at", BigInteger, primary_key=True),
    Column("detail", String(16)),  # a bounce's type (hard, soft)
    sqlite_with_rowid=False,
)
