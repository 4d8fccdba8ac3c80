"""The lock and access-control brands Keystay links through Seam, as Seam names them."""

# Providers a manager may link through a Connect Webview, as Seam names them.
PIN_LOCK_PROVIDERS = {
    "august": "August",
    "schlage": "Schlage",
    "yale": "Yale",
    "igloohome": "igloohome",
    "kwikset": "Kwikset",
    "nuki": "Nuki",
    "ttlock": "TTLock",
}
ACCESS_CONTROL_PROVIDERS = {
    "salto": "Salto",
    "my_2n": "2N",
    "dormakaba_oracode": "dormakaba Oracode",
}

KNOWN_PROVIDERS = {**PIN_LOCK_PROVIDERS, **ACCESS_CONTROL_PROVIDERS}
