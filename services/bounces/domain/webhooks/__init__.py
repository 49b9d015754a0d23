"""Vendor event webhooks, pure: how each vendor's request is verified and how its events map to feedback.

One module per vendor (`ses`, `sendgrid`, `mailgun`, `sparkpost`, `elasticemail`), each with an
explicit table from the vendor's events to a `FeedbackClass` and a check of the request's signature
or token. Nothing here does I/O: fetching SNS's signing certificate is the adapters' job
(`services/bounces/adapters/webhook_sns.py`), running the steps the app layer's
(`services/bounces/app/webhooks.py`).
"""
