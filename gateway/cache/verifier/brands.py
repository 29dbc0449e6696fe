"""Products, services and shops people write in lowercase. "screenshot on a samsung" and "screenshot on an
iphone", "dark mode in whatsapp" and "in instagram" ask about different things, yet a multilingual embedder puts
them 0.04-0.07 apart and no capital marks them as names. The verifier reads them from this list, and any web
address ("bol.com", "amazon.de") as a shop or a service of its own."""

from __future__ import annotations

import re
from itertools import pairwise

# Lowercase; a name of several words hyphenated. Common words that are also names ("word", "edge", "switch",
# "seat", "opera", Italian for a work) are left out: a prompt's other words would be read as another product.
_LISTED = """
whatsapp instagram facebook messenger tiktok youtube twitter snapchat telegram linkedin pinterest reddit discord
slack teams zoom skype webex tumblr twitch bluesky mastodon wechat viber quora tinder bumble
netflix spotify deezer disney+ hbo hulu soundcloud audible kindle
google gmail hotmail outlook yahoo bing duckduckgo chatgpt openai copilot siri alexa
chrome firefox safari
windows macos mac ios ipados android linux ubuntu fedora debian chromeos
iphone ipad ipod macbook imac airpods samsung xiaomi huawei oppo oneplus nokia motorola sony
playstation ps4 ps5 xbox nintendo minecraft fortnite roblox
excel powerpoint onenote onedrive dropbox icloud notion trello asana jira canva photoshop lightroom figma
wordpress shopify wix squarespace github gitlab bitbucket docker kubernetes
amazon ebay aliexpress temu shein zalando etsy vinted marktplaats wallapop olx leboncoin idealo
coolblue mediamarkt fnac darty boulanger unieuro euronics
ikea lidl aldi carrefour mercadona esselunga albert-heijn kruidvat rewe edeka rossmann
paypal venmo revolut klarna bizum satispay tikkie n26 bunq monzo
uber lyft cabify airbnb trivago ryanair easyjet vueling klm lufthansa iberia
tesla bmw audi volkswagen toyota renault peugeot citroen fiat skoda hyundai volvo
google-drive google-docs google-doc google-maps google-sheets apple-music apple-pay google-pay amazon-prime
microsoft-teams microsoft-word microsoft-excel
thunderbird vlc vscode notepad intellij pycharm xcode vim emacs chromecast roku firestick sonos kobo garmin fitbit
strava duolingo babbel waze tripadvisor glovo deliveroo thuisbezorgd lieferando ubereats blablacar flixbus
trainline renfe trenitalia sncf italo ouigo
python java javascript typescript php kotlin golang perl mysql postgres postgresql mongodb sqlite redis
react angular vue django flask laravel aws azure heroku vercel netlify
rabobank sparkasse santander bbva caixabank nubank itaú bradesco unicredit ing abn-amro
vodafone movistar telekom kpn ziggo
aok barmer dak
canon nikon gopro dyson philips bosch siemens miele nespresso thermomix
mcdonalds starbucks zara primark decathlon hema worten leroy-merlin hornbach
"""
_NAMES = frozenset(_LISTED.split())
_PAIRS = frozenset(name.partition("-")[0] for name in _NAMES if "-" in name)  # first words of two-word names
_WORD = re.compile(r"[^\W_]+(?:\.[^\W_]+)*\+?")  # words, "bol.com", "disney+"
_ADDRESS = re.compile(r"[a-z0-9][a-z0-9-]*\.(?:com|net|org|io|co|de|nl|be|fr|es|pt|it|ch|at|eu|br|uk)")


def brands(text: str) -> frozenset[str]:
    """The products, services and web addresses a text names, lowercased ("apple-music", "bol.com")."""
    words = _WORD.findall(text.lower())
    found = set(words) & _NAMES  # most prompts name none: set operations, no loop over the words
    if not _PAIRS.isdisjoint(words):
        for first, second in pairwise(words):
            if f"{first}-{second}" in _NAMES:
                found |= {f"{first}-{second}"}
                found.discard(first)  # "google" of "google-docs"
    if "." in text:
        for word in filter(_ADDRESS.fullmatch, words):  # a listed one's site is the name: "quora.com" = "quora"
            found.add(word.partition(".")[0] if word.partition(".")[0] in _NAMES else word)
    return frozenset(found)
