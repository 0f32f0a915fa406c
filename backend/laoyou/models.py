"""Every domain's tables, imported so that Alembic and create_all see the whole metadata."""

from laoyou.accounts.link_requests.models import LinkRequest  # noqa: F401
from laoyou.accounts.models import (  # noqa: F401
    AuditEvent,
    AuthSession,
    FamilyLink,
    LoginCard,
    LoginCode,
    Notification,
    Person,
    RoleGrant,
)
from laoyou.billing.models import (  # noqa: F401
    Bill,
    BillRun,
    FeePlan,
    FeePlanItem,
    JournalEntry,
    JournalLine,
    LedgerAttachment,
    PackageAdoption,
    Payment,
    PaymentAllocation,
    PaymentNotification,
    Refund,
    RefusedNotification,
    SandboxOrder,
)
from laoyou.briefings.models import (  # noqa: F401,E402
    Briefing,
    BriefingAudience,
    BriefingMedia,
    BriefingRead,
    BriefingThanks,
)
from laoyou.care.checkins.models import CheckinDay, CheckinPlan  # noqa: F401,E402
from laoyou.care.ledger.models import CareRecord, CareVisit  # noqa: F401,E402
from laoyou.care.sensors.models import CommunityCamera, SensorDevice, SensorEvent  # noqa: F401,E402
from laoyou.estates.models import Building, Community, District, Household, Unit  # noqa: F401
from laoyou.governance.assessment.models import SurveyAnswer  # noqa: F401,E402
from laoyou.governance.disclosures.models import (  # noqa: F401,E402
    Disclosure,
    DisclosureInvoice,
    DisclosureLine,
    DisclosureQuestion,
    DisclosureRead,
)
from laoyou.governance.open311.models import Open311Key  # noqa: F401,E402
from laoyou.governance.votes.models import Ballot, Vote, VoteProxy  # noqa: F401,E402
from laoyou.media.models import MediaFile  # noqa: F401,E402
from laoyou.notify.models import EmergencyNotice, PushOutbox, PushPreference, PushSubscription  # noqa: F401,E402
from laoyou.notify.reach.models import (  # noqa: F401,E402
    Reach,
    ReachCap,
    ReachChoice,
    ReachSend,
    ReachUsage,
    WechatLink,
)
from laoyou.support.models import (  # noqa: F401,E402
    AgentStatus,
    Call,
    CallSignal,
    Conversation,
    FaqEntry,
    Message,
    PhoneCallLog,
    SosAlert,
)
from laoyou.tickets.models import StaffProfile, TicketAttachment, WorkOrder, WorkOrderEvent  # noqa: F401,E402
