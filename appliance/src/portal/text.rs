//! The personal space's words, in French (the default) and English (SPEC R-PORTAL-4).

/// Every piece of text the personal space shows.
#[derive(Debug)]
pub struct Texts {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_language: &'static str,
    pub menu: &'static str,
    pub account: &'static str,
    pub quality: &'static str,
    pub my_data: &'static str,
    pub terms: &'static str,
    pub logout: &'static str,
    pub login_title: &'static str,
    /// What the page is, `{relay}` the relay's name.
    pub login_intro: &'static str,
    pub login_password_hint: &'static str,
    pub login_directory: &'static str,
    pub login_lost_title: &'static str,
    pub login_lost_password: &'static str,
    pub login_lost_second_factor: &'static str,
    pub address: &'static str,
    pub password: &'static str,
    pub login_button: &'static str,
    pub bad_login: &'static str,
    pub throttled: &'static str,
    pub second_factor: &'static str,
    pub enrol_intro: &'static str,
    pub enrol_manual: &'static str,
    pub code_intro: &'static str,
    pub code: &'static str,
    pub verify: &'static str,
    pub bad_code: &'static str,
    pub recovery_title: &'static str,
    pub recovery_intro: &'static str,
    pub continue_: &'static str,
    pub identity: &'static str,
    pub name: &'static str,
    pub contact: &'static str,
    pub mailbox: &'static str,
    pub messages_waiting: &'static str,
    pub last_collection: &'static str,
    pub never: &'static str,
    pub state: &'static str,
    pub state_ok: &'static str,
    pub state_closed: &'static str,
    /// Before the mass-mailing block's reason.
    pub state_blocked: &'static str,
    pub keys: &'static str,
    pub edition: &'static str,
    pub fingerprint: &'static str,
    pub status: &'static str,
    pub expires: &'static str,
    pub download: &'static str,
    /// `{edition}`, `{date}`, `{days}`: an edition in use expires within 30 days.
    pub keys_expire: &'static str,
    /// `{next}`: the edition issued to take over.
    pub keys_taken_over: &'static str,
    pub keys_not_renewed: &'static str,
    pub directory_preferences: &'static str,
    pub red_list: &'static str,
    pub publish_phone: &'static str,
    pub dematerialisation: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub preferences_set_at: &'static str,
    pub data_rights: &'static str,
    pub download_json: &'static str,
    pub request_kind: &'static str,
    pub rectification: &'static str,
    pub erasure: &'static str,
    pub limitation: &'static str,
    pub objection: &'static str,
    pub request_text: &'static str,
    pub send_request: &'static str,
    pub request_filed: &'static str,
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub password_changed: &'static str,
    /// The current password typed is not the account's.
    pub password_wrong: &'static str,
    /// The new password is shorter than the minimum.
    pub password_short: &'static str,
    /// Too many wrong passwords lately.
    pub password_locked: &'static str,
    pub connections: &'static str,
    pub when: &'static str,
    pub protocol: &'static str,
    pub from: &'static str,
    pub outcome: &'static str,
    pub quality_intro: &'static str,
    pub period: &'static str,
    pub messages: &'static str,
    pub mean: &'static str,
    pub load: &'static str,
    pub chart_caption: &'static str,
    pub last_minutes: &'static str,
    pub data_intro: &'static str,
    pub nothing_recorded: &'static str,
    pub version: &'static str,
    pub accept_terms: &'static str,
    pub terms_accepted: &'static str,
    pub no_terms: &'static str,
    pub history: &'static str,
    pub error_title: &'static str,
    pub forged: &'static str,
    pub back: &'static str,
    pub not_found: &'static str,
}

pub const FRENCH: Texts = Texts {
    lang: "fr",
    other_lang: "en",
    other_language: "English",
    menu: "Menu",
    account: "Mon compte",
    quality: "Qualité de service",
    my_data: "Mes données",
    terms: "Conditions d'utilisation",
    logout: "Se déconnecter",
    login_title: "Espace personnel",
    login_intro: "L'espace personnel de votre messagerie sécurisée de santé {relay} : votre boîte, vos clés, vos \
                  préférences d'annuaire, vos données et vos connexions.",
    login_password_hint: "Le mot de passe de votre messagerie, celui que votre logiciel utilise pour envoyer et relever \
                          vos messages. Un code à six chiffres de votre application d'authentification vous est \
                          ensuite demandé.",
    login_directory: "Chercher un correspondant dans l'annuaire, sans se connecter",
    login_lost_title: "Mot de passe ou téléphone perdu ?",
    login_lost_password: "Mot de passe perdu : demandez à l'administrateur de votre relais de le réinitialiser ; \
                          il vous remet un nouveau mot de passe, à saisir aussi dans votre logiciel.",
    login_lost_second_factor: "Application d'authentification perdue : saisissez l'un de vos codes de secours à la \
                               place du code ; sans eux, contactez l'administrateur de votre relais.",
    address: "Adresse sécurisée",
    password: "Mot de passe",
    login_button: "Se connecter",
    bad_login: "Adresse ou mot de passe incorrect.",
    throttled: "Trop de tentatives : réessayez dans {minutes} minutes.",
    second_factor: "Second facteur",
    enrol_intro: "Scannez ce code avec une application d'authentification (TOTP), puis saisissez le code à six chiffres qu'elle affiche.",
    enrol_manual: "Ou saisissez cette clé :",
    code_intro: "Saisissez le code à six chiffres de votre application d'authentification, ou un code de secours.",
    code: "Code",
    verify: "Vérifier",
    bad_code: "Code incorrect.",
    recovery_title: "Codes de secours",
    recovery_intro: "Conservez ces codes en lieu sûr : chacun remplace une fois le code de l'application. Ils ne seront plus affichés.",
    continue_: "Continuer vers mon compte",
    identity: "Identité",
    name: "Nom",
    contact: "Adresse de contact",
    mailbox: "Boîte aux lettres",
    messages_waiting: "Messages en attente",
    last_collection: "Dernière relève",
    never: "jamais",
    state: "État",
    state_ok: "réception active",
    state_closed: "compte fermé",
    state_blocked: "envois bloqués pour envoi en masse",
    keys: "Clés",
    edition: "Édition",
    fingerprint: "Empreinte",
    status: "État",
    expires: "Expire le",
    download: "Télécharger le certificat",
    keys_expire: "Vos clés (édition {edition}) expirent le {date}, dans {days} jour(s).",
    keys_taken_over: "L'édition {next} prend le relais : le logiciel Caducée l'installe à sa prochaine relève ; \
                      avec un autre logiciel, importez le paquet de clés reçu dans votre boîte.",
    keys_not_renewed: "Aucune nouvelle édition n'est émise : demandez à votre administrateur de renouveler vos clés. \
                       Après cette date, les messages chiffrés pour ces clés vous seront refusés.",
    directory_preferences: "Préférences d'annuaire",
    red_list: "Liste rouge : ne pas figurer dans l'annuaire public",
    publish_phone: "Publier mon numéro de téléphone",
    dematerialisation: "J'accepte la dématérialisation (documents par messagerie plutôt que papier)",
    save: "Enregistrer",
    saved: "Enregistré.",
    preferences_set_at: "Dernière modification",
    data_rights: "Mes droits sur mes données",
    download_json: "Télécharger mes données (JSON)",
    request_kind: "Demande",
    rectification: "Rectification",
    erasure: "Effacement",
    limitation: "Limitation",
    objection: "Opposition",
    request_text: "Précisions",
    send_request: "Envoyer la demande",
    request_filed: "Votre demande est transmise à l'administrateur.",
    change_password: "Changer de mot de passe",
    current_password: "Mot de passe actuel",
    new_password: "Nouveau mot de passe (12 caractères au moins)",
    password_changed: "Mot de passe changé.",
    password_wrong: "Le mot de passe actuel saisi est incorrect ; rien n'a été changé.",
    password_short: "Le nouveau mot de passe est trop court : 12 caractères au moins ; rien n'a été changé.",
    password_locked: "Trop d'essais de mot de passe incorrects : réessayez dans 15 minutes.",
    connections: "Mes connexions",
    when: "Quand",
    protocol: "Protocole",
    from: "Depuis",
    outcome: "Résultat",
    quality_intro: "Temps de traitement des messages (de la fin de l'envoi à l'écriture sur disque), en millisecondes, et charge du système.",
    period: "Période",
    messages: "Messages",
    mean: "Moyenne",
    load: "Charge (1, 5, 15 min)",
    chart_caption: "Temps de traitement (ms) : médiane, 90e et 99e centiles par période.",
    last_minutes: "dernières minutes",
    data_intro: "Toutes les données personnelles que le relais conserve sur vous.",
    nothing_recorded: "Rien d'enregistré.",
    version: "Version",
    accept_terms: "J'accepte ces conditions",
    terms_accepted: "Vous avez accepté cette version.",
    no_terms: "Aucune condition d'utilisation n'est publiée.",
    history: "Historique de vos acceptations",
    error_title: "Erreur",
    forged: "Ce formulaire a expiré ou ne vient pas de cette page. Rechargez la page et recommencez.",
    back: "Retour",
    not_found: "Cette page n'existe pas.",
};

pub const ENGLISH: Texts = Texts {
    lang: "en",
    other_lang: "fr",
    other_language: "Français",
    menu: "Menu",
    account: "My account",
    quality: "Quality of service",
    my_data: "My data",
    terms: "Terms of use",
    logout: "Log out",
    login_title: "Personal space",
    login_intro: "The personal space of your secure health messaging at {relay}: your mailbox, your keys, your \
                  directory preferences, your data and your connections.",
    login_password_hint: "Your messaging password, the one your software uses to send and collect your messages. \
                          A six-digit code from your authenticator app is asked next.",
    login_directory: "Look up a correspondent in the directory, without logging in",
    login_lost_title: "Lost your password or phone?",
    login_lost_password: "Lost password: ask your relay's administrator to reset it; you get a new password, to \
                          enter in your software too.",
    login_lost_second_factor: "Lost authenticator app: enter one of your recovery codes instead of the code; without \
                               them, contact your relay's administrator.",
    address: "Secure address",
    password: "Password",
    login_button: "Log in",
    bad_login: "Wrong address or password.",
    throttled: "Too many attempts: try again in {minutes} minutes.",
    second_factor: "Second factor",
    enrol_intro: "Scan this code with an authenticator app (TOTP), then type the six-digit code it shows.",
    enrol_manual: "Or type this key:",
    code_intro: "Type the six-digit code of your authenticator app, or a recovery code.",
    code: "Code",
    verify: "Verify",
    bad_code: "Wrong code.",
    recovery_title: "Recovery codes",
    recovery_intro: "Keep these codes somewhere safe: each replaces the app's code once. They will not be shown again.",
    continue_: "Continue to my account",
    identity: "Identity",
    name: "Name",
    contact: "Contact address",
    mailbox: "Mailbox",
    messages_waiting: "Messages waiting",
    last_collection: "Last collection",
    never: "never",
    state: "State",
    state_ok: "receiving",
    state_closed: "account closed",
    state_blocked: "sending blocked for mass mailing",
    keys: "Keys",
    edition: "Edition",
    fingerprint: "Fingerprint",
    status: "Status",
    expires: "Expires",
    download: "Download the certificate",
    keys_expire: "Your keys (edition {edition}) expire on {date}, in {days} day(s).",
    keys_taken_over: "Edition {next} takes over: the Caducée client installs it at its next collection; \
                      with other software, import the key bundle delivered to your mailbox.",
    keys_not_renewed: "No newer edition has been issued: ask your administrator to renew your keys. \
                       After that date, messages encrypted to these keys will be refused for you.",
    directory_preferences: "Directory preferences",
    red_list: "Red list: keep me out of the public directory",
    publish_phone: "Publish my phone number",
    dematerialisation: "I accept dematerialisation (documents by secure messaging rather than paper)",
    save: "Save",
    saved: "Saved.",
    preferences_set_at: "Last changed",
    data_rights: "My data rights",
    download_json: "Download my data (JSON)",
    request_kind: "Request",
    rectification: "Rectification",
    erasure: "Erasure",
    limitation: "Limitation",
    objection: "Objection",
    request_text: "Details",
    send_request: "Send the request",
    request_filed: "Your request has been passed to the administrator.",
    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password (at least 12 characters)",
    password_changed: "Password changed.",
    password_wrong: "The current password you typed is not right; nothing was changed.",
    password_short: "The new password is too short: at least 12 characters; nothing was changed.",
    password_locked: "Too many wrong passwords: try again in 15 minutes.",
    connections: "My connections",
    when: "When",
    protocol: "Protocol",
    from: "From",
    outcome: "Outcome",
    quality_intro: "Message processing time (end of sending to written on disk), in milliseconds, and system load.",
    period: "Period",
    messages: "Messages",
    mean: "Mean",
    load: "Load (1, 5, 15 min)",
    chart_caption: "Processing time (ms): median, 90th and 99th percentiles per period.",
    last_minutes: "last minutes",
    data_intro: "All the personal data the relay keeps about you.",
    nothing_recorded: "Nothing recorded.",
    version: "Version",
    accept_terms: "I accept these terms",
    terms_accepted: "You have accepted this version.",
    no_terms: "No terms of use are published.",
    history: "Your acceptances",
    error_title: "Error",
    forged: "This form has expired or does not come from this page. Reload the page and try again.",
    back: "Back",
    not_found: "This page does not exist.",
};

impl Texts {
    fn french(&self) -> bool {
        self.lang == "fr"
    }

    /// A number with `decimals` places, with the page's decimal mark (`1,95`, `1.95`).
    pub fn decimal(&self, number: f64, decimals: usize) -> String {
        let text = format!("{number:.decimals$}");
        if self.french() {
            text.replace('.', ",")
        } else {
            text
        }
    }

    /// Megabytes in the page's number format: `0,00 Mo` in French, `0.00 MB` in English.
    pub fn megabytes(&self, megabytes: f64, decimals: usize) -> String {
        let number = self.decimal(megabytes, decimals);
        if self.french() {
            format!("{number} Mo")
        } else {
            format!("{number} MB")
        }
    }

    /// An edition's state, in words.
    pub fn key_status(&self, status: caducee_storage::CertificateStatus) -> &'static str {
        use caducee_storage::CertificateStatus;
        match (status, self.french()) {
            (CertificateStatus::NotYetValid, true) => "pas encore valide",
            (CertificateStatus::NotYetValid, false) => "not yet valid",
            (CertificateStatus::Valid, true) => "valide",
            (CertificateStatus::Valid, false) => "valid",
            (CertificateStatus::Expired, true) => "expirée",
            (CertificateStatus::Expired, false) => "expired",
            (CertificateStatus::Revoked, true) => "révoquée",
            (CertificateStatus::Revoked, false) => "revoked",
        }
    }

    /// Why reception is disabled, in words.
    pub fn disabled_reason(&self, reason: &caducee_storage::DisabledReason) -> &'static str {
        use caducee_storage::DisabledReason;
        match (reason, self.french()) {
            (DisabledReason::Inactivity, true) => "réception suspendue : boîte non relevée depuis longtemps",
            (DisabledReason::Inactivity, false) => "reception disabled: the mailbox has not been collected for long",
            (DisabledReason::Suspended, true) => "réception suspendue par l'administrateur",
            (DisabledReason::Suspended, false) => "reception suspended by the administrator",
        }
    }

    /// A logged connection's protocol, as the user reads it in "my connections".
    pub fn protocol_name(&self, protocol: caducee_storage::Protocol) -> &'static str {
        use caducee_storage::Protocol;
        match (protocol, self.french()) {
            (Protocol::Smtp, true) => "Envoi (SMTP)",
            (Protocol::Smtp, false) => "Sending (SMTP)",
            (Protocol::Pop3, true) => "Relève (POP3)",
            (Protocol::Pop3, false) => "Collection (POP3)",
            (Protocol::Web, true) => "Espace personnel",
            (Protocol::Web, false) => "Personal space",
            (Protocol::Imap, true) => "Relève (IMAP)",
            (Protocol::Imap, false) => "Collection (IMAP)",
        }
    }

    /// How a logged connection ended (the connection log's short code), in words.
    pub fn connection_outcome(&self, outcome: &str) -> String {
        let fr = self.french();
        let words = match outcome {
            "ok" => {
                if fr {
                    "terminée normalement"
                } else {
                    "ended normally"
                }
            }
            "closed" => {
                if fr {
                    "fermée"
                } else {
                    "closed"
                }
            }
            "dropped" => {
                if fr {
                    "coupée par le logiciel"
                } else {
                    "cut off by the software"
                }
            }
            "write-failed" | "tls-failed" => {
                if fr {
                    "coupée (erreur réseau)"
                } else {
                    "cut off (network error)"
                }
            }
            "timeout" | "write-timeout" | "login-timeout" | "tls-timeout" => {
                if fr {
                    "délai dépassé"
                } else {
                    "timed out"
                }
            }
            "second-factor-failed" => {
                if fr {
                    "mot de passe juste, second facteur refusé"
                } else {
                    "right password, second factor refused"
                }
            }
            other => return if fr { format!("autre ({other})") } else { format!("other ({other})") },
        };
        words.to_owned()
    }
}
