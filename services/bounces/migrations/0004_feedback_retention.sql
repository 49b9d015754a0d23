-- Feedback is kept SENDPOOL_BOUNCES_FEEDBACK_RETENTION_DAYS; the pruning round finds the old sources by age.
CREATE INDEX feedback_sources_received_at ON feedback_sources (received_at);
