def content_expiry_warn(*, now=None) -> int:
    return 0
