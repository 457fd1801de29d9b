"""Shapes of what the client returns: GHL's parsed JSON, documented as TypedDicts (REFERENCE.md field names).

They are documentation and type-checking aids only: values are plain dicts, unknown keys (``traceId``, fields GHL
adds later) are kept, and every key is optional because GHL omits empty ones.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Contact(TypedDict, total=False):
    id: str
    locationId: str
    name: str
    firstName: str
    lastName: str
    firstNameLowerCase: str
    lastNameLowerCase: str
    email: str
    phone: str
    companyName: str
    tags: list[str]
    customFields: list[dict[str, Any]]
    dnd: bool
    dndSettings: dict[str, Any]
    source: str
    assignedTo: str
    dateAdded: str
    dateUpdated: str
    searchAfter: list[Any]


class ContactSearchPage(TypedDict, total=False):
    contacts: list[Contact]
    total: int


class UpsertContactResult(TypedDict):
    new: bool
    contact: Contact


class Conversation(TypedDict, total=False):
    id: str
    contactId: str
    locationId: str
    lastMessageBody: str
    lastMessageType: str
    lastMessageDate: Any
    type: Any
    unreadCount: int
    assignedTo: str
    inbox: bool
    starred: bool
    deleted: bool
    sort: list[Any]


class ConversationSearchPage(TypedDict, total=False):
    conversations: list[Conversation]
    total: int


class Message(TypedDict, total=False):
    id: str
    type: int
    messageType: str
    locationId: str
    contactId: str
    conversationId: str
    dateAdded: str
    body: str
    direction: str
    status: str
    contentType: str
    attachments: list[str]
    meta: dict[str, Any]
    source: str
    userId: str


class MessagesPage(TypedDict):
    """Normalised from GHL's wrapped (``{"messages": {"messages": [...]}}``) or flat shape."""

    messages: list[Message]
    lastMessageId: str | None
    nextPage: bool


class SendMessageResult(TypedDict, total=False):
    conversationId: str
    messageId: str
    emailMessageId: str
    messageIds: list[str]
    msg: str
    status: str


class Stage(TypedDict, total=False):
    id: str
    name: str
    position: int


class Pipeline(TypedDict, total=False):
    id: str
    name: str
    stages: list[Stage]
    locationId: str


class Opportunity(TypedDict, total=False):
    id: str
    name: str
    monetaryValue: float
    pipelineId: str
    pipelineStageId: str
    assignedTo: str
    status: str
    source: str
    contactId: str
    locationId: str
    contact: dict[str, Any]
    customFields: list[dict[str, Any]]
    lastStatusChangeAt: str
    lastStageChangeAt: str
    createdAt: str
    updatedAt: str


class OpportunitySearchPage(TypedDict, total=False):
    opportunities: list[Opportunity]
    meta: dict[str, Any]
    aggregations: dict[str, Any]


class UpsertOpportunityResult(TypedDict):
    new: bool
    opportunity: Opportunity


class Calendar(TypedDict, total=False):
    id: str
    locationId: str
    name: str
    groupId: str
    isActive: bool
    calendarType: str
    slotDuration: int
    teamMembers: list[dict[str, Any]]


class CalendarEvent(TypedDict, total=False):
    id: str
    title: str
    calendarId: str
    locationId: str
    contactId: str
    groupId: str
    appointmentStatus: str
    assignedUserId: str
    startTime: str
    endTime: str
    dateAdded: str
    dateUpdated: str
    address: str
    notes: str


class Location(TypedDict, total=False):
    id: str
    companyId: str
    name: str
    timezone: str
    email: str
    phone: str
    settings: dict[str, Any]


class CustomField(TypedDict, total=False):
    id: str
    name: str
    fieldKey: str
    dataType: str
    model: str
    picklistOptions: list[Any]


class User(TypedDict, total=False):
    id: str
    name: str
    firstName: str
    lastName: str
    email: str
    phone: str
    roles: dict[str, Any]


class TokenResponse(TypedDict, total=False):
    """``POST /oauth/token`` and ``POST /oauth/locationToken`` (the latter has no ``refresh_token``)."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    scope: str
    userType: str
    locationId: str
    companyId: str
    approvedLocations: list[str]
    userId: str
    planId: str
    isBulkInstallation: bool


class InstalledLocation(TypedDict, total=False):
    _id: str
    name: str
    address: str
    isInstalled: bool
    versionId: str
    installedAt: str
