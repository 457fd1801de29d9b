"""Common English nicknames (both ways), "within reason": only names that are widely understood as the same."""

_GROUPS = {
    "robert": ["bob", "bobby", "rob", "robbie", "bert"],
    "william": ["bill", "billy", "will", "willie", "liam"],
    "elizabeth": ["liz", "lizzie", "beth", "betty", "eliza", "libby"],
    "james": ["jim", "jimmy", "jamie"],
    "michael": ["mike", "mikey", "mick"],
    "katherine": ["kate", "katie", "kathy", "kat"],
    "catherine": ["cathy", "cate", "katie", "kate"],
    "thomas": ["tom", "tommy"],
    "david": ["dave", "davey"],
    "daniel": ["dan", "danny"],
    "christopher": ["chris", "topher"],
    "christine": ["chris", "chrissy", "tina"],
    "alexander": ["alex", "xander", "sasha"],
    "alexandra": ["alex", "lexi", "sasha"],
    "samuel": ["sam", "sammy"],
    "samantha": ["sam", "sammy"],
    "joseph": ["joe", "joey"],
    "josephine": ["jo", "josie"],
    "anthony": ["tony"],
    "nicholas": ["nick", "nicky"],
    "matthew": ["matt"],
    "steven": ["steve"],
    "stephen": ["steve"],
    "jennifer": ["jen", "jenny"],
    "susan": ["sue", "susie"],
    "margaret": ["maggie", "meg", "peggy", "marge"],
    "richard": ["rick", "ricky", "dick", "rich"],
    "edward": ["ed", "eddie", "ted", "ned"],
    "theodore": ["ted", "teddy", "theo"],
    "andrew": ["andy", "drew"],
    "patrick": ["pat", "paddy"],
    "patricia": ["pat", "patty", "trish"],
    "benjamin": ["ben", "benny"],
    "gregory": ["greg"],
    "lawrence": ["larry"],
    "john": ["jack", "johnny"],
    "charles": ["charlie", "chuck"],
    "frederick": ["fred", "freddie"],
    "abigail": ["abby"],
    "rebecca": ["becky", "becca"],
    "victoria": ["vicky", "tori"],
    "jonathan": ["jon", "jonny"],
    "timothy": ["tim", "timmy"],
    "kenneth": ["ken", "kenny"],
    "ronald": ["ron", "ronnie"],
    "donald": ["don", "donnie"],
    "deborah": ["deb", "debbie"],
    "pamela": ["pam"],
    "barbara": ["barb"],
    "jacqueline": ["jackie"],
    "francisco": ["paco", "pancho"],
    "jose": ["pepe"],
    "guillermo": ["memo"],
}

NICKNAMES: dict[str, set[str]] = {}
for _full, _short in _GROUPS.items():
    NICKNAMES.setdefault(_full, set()).update(_short)  # "Robert" may be stored as "Bob"
    for _name in _short:
        NICKNAMES.setdefault(_name, set()).add(_full)  # "Bob" may be stored as "Robert"


def name_alternatives(token: str) -> set[str]:
    """Other first names the same person may go by (folded, lower-case)."""
    return NICKNAMES.get(token, set())
