"""Reading feedback mail: the MIME walk (`mime`), RFC 3464 delivery status (`dsn`), RFC 5965 feedback
reports (`arf`), RFC 3834 auto-replies (`autoreply`), the prose bounces of MTAs that send no DSN
(`nonstandard`), and the table from SMTP codes and phrases to hard or soft (`codes`).

Everything here is pure and bounded: the mail is hostile input, so each step caps what it reads
(bytes, parts, depth, header and line lengths) and uses only linear-time patterns.
`services.bounces.domain.classify.classify_message` puts the steps together.
"""
