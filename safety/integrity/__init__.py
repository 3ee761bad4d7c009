"""Integrity: prove that nothing was altered behind the application's back.

It reads every feature's tables (the audit chain, signed records, phase entries, addenda), so
it sits on top of them; no feature imports it except the pages that show its last result.
"""
