"""What a patient reads, in Canadian French: the keys and order of `texts`, side by side.

Written for a sore, worried person in plain Quebec and Ontario French (courriel, texto,
Info-Santé), in the "vous" form, gender-neutral where French allows it. Each safety text keeps
the English meaning exactly: the same symptoms, the same 10 minutes of pressure, the same
"call now". Placeholders in braces are kept as they are; the emergency number is never
written here, it follows the clinic's country. Typography follows Canadian usage: a space
before a colon, none before a question mark.
"""

QUESTIONS = {
    "soreness": {
        "text": "En ce moment, à quel point avez-vous mal aux endroits où les aiguilles ont été "
        "insérées?",
        "hint": "0 veut dire aucune douleur, 10 la pire douleur que vous puissiez imaginer.",
        "missing": "Choisissez un chiffre de 0 (aucune douleur) à 10 (la pire).",
    },
    "trend": {
        "text": "Par rapport à juste après votre rendez-vous, est-ce…",
        "options": {"better": "Mieux", "same": "À peu près pareil", "worse": "Pire"},
        "missing": "Dites-nous si c'est mieux, pareil ou pire.",
    },
    "bleeding": {
        "text": "Un point d'insertion d'aiguille a-t-il saigné depuis votre départ?",
        "options": {
            "none": "Non",
            "stopped": "Oui, mais le saignement s'est arrêté quand j'ai appuyé dessus",
            "wont_stop": "Oui, et ça saigne encore après 10 minutes de pression ferme",
        },
        "missing": "Dites-nous si vous avez saigné depuis votre départ.",
    },
    "bruising": {
        "text": "Avez-vous un bleu autour des points d'insertion des aiguilles?",
        "options": {
            "none": "Non",
            "small": "Un petit bleu",
            "large": "Un gros bleu, ou un bleu qui s'étend",
        },
        "missing": "Dites-nous si vous avez un bleu.",
    },
    "signs": {
        "text": "Remarquez-vous l'un de ces signes à un point d'insertion?",
        "hint": "Cochez tout ce qui s'applique, ou ne cochez rien si vous n'avez aucun de ces "
        "signes.",
        "options": {
            "redness": "Une rougeur qui s'étend",
            "warmth": "De la chaleur",
            "swelling": "Une enflure",
            "pus": "Du pus ou un autre écoulement",
            "fever": "De la fièvre, ou une sensation de chaleur avec des frissons",
        },
        "missing": "Choisissez parmi les signes de la liste.",
    },
    "numbness": {
        "text": "Depuis le rendez-vous, avez-vous un nouvel engourdissement, des picotements "
        "ou une faiblesse?",
        "options": {
            "no": "Non",
            "yes": "Oui, un engourdissement ou des picotements, ou une faiblesse apparue lentement",
            "sudden": "Oui, et c'est apparu soudainement : un bras ou une jambe faible (plus "
            "que douloureux là où étaient les aiguilles), un côté du visage affaissé, ou de la "
            "difficulté à parler",
        },
        "missing": "Dites-nous si vous avez un engourdissement, des picotements ou une faiblesse.",
    },
    "head_signs": {
        "text": "Depuis le rendez-vous, est-ce que l'un de ces signes est apparu soudainement, "
        "même s'il est passé : un très fort mal de tête, différent de tous ceux que vous avez "
        "eus; une perte de la vue, une vue embrouillée ou double; ou un étourdissement avec de "
        "la difficulté à garder l'équilibre ou à marcher droit?",
        "options": {"no": "Non", "yes": "Oui"},
        "hint": "Une douleur ou une raideur là où étaient les aiguilles, ou un léger mal de tête "
        "comme ceux que vous avez déjà eus, est courant après une puncture : répondez Non dans ce "
        "cas.",
        "missing": "Répondez à cette question sur le mal de tête, la vue et l'équilibre.",
    },
    "fainted": {
        "text": "Avez-vous perdu connaissance depuis votre départ de la clinique?",
        "options": {"no": "Non", "yes": "Oui"},
        "missing": "Dites-nous si vous avez perdu connaissance.",
    },
    "needle_found": {
        "text": "Avez-vous trouvé une aiguille, ou un morceau d'aiguille, dans votre peau?",
        "options": {"no": "Non", "yes": "Oui"},
        "missing": "Dites-nous si vous avez trouvé une aiguille dans votre peau.",
    },
    "chest": {
        "text": "Depuis le rendez-vous, avez-vous eu une douleur à la poitrine, une douleur "
        "quand vous inspirez, ou le souffle court?",
        "options": {"no": "Non", "yes": "Oui"},
        "missing": "Répondez à cette question sur votre poitrine et votre respiration.",
    },
    "other": {
        "text": "Voulez-vous nous dire autre chose? (facultatif)",
        "hint": "Une personne de la clinique lit tout ce qui est écrit ici dans les deux jours "
        "ouvrables. N'attendez pas pour une douleur à la poitrine, de la difficulté à "
        "respirer, un saignement qui ne s'arrête pas, ou une faiblesse soudaine ou de la "
        "difficulté à parler : appelez le {emergency_number}.",
    },
}

FORM_INTROS = {
    "24h": "Cela prend environ une minute.",
    "48h": "Une question sur votre poitrine et votre respiration, parce que des aiguilles ont "
    "été insérées près de la poitrine, du dos, de l'épaule ou du cou.",
    "72h": "Nous voulons vérifier que votre douleur diminue.",
    "7d": "Nous voulons vérifier une dernière fois les points d'insertion des aiguilles.",
}

ADVICE = {
    "press_first": "Continuez d'appuyer fermement sur l'endroit qui saigne avec un linge ou "
    "une compresse propre. Ne soulevez pas pour regarder.",
    "call_emergency": "Appelez le {emergency_number} immédiatement.",
    "tell_them": "Dites-leur que vous avez reçu de la puncture sèche (dry needling) près de la "
    "poitrine, du dos, de l'épaule ou du cou le {date}.",
    "tell_them_bleeding": "Dites-leur qu'un point d'insertion de la puncture sèche (dry "
    "needling) du {date} saigne encore après 10 minutes de pression ferme, et si vous prenez "
    "un médicament qui éclaircit le sang.",
    "tell_them_weakness": "Dites-leur à quelle heure la faiblesse, l'affaissement du visage ou "
    "la difficulté à parler ont commencé, même si c'est passé, et que vous avez eu une séance "
    "de puncture sèche (dry needling) le {date}, et à quel endroit du corps. Ne conduisez pas "
    "vous-même.",
    "tell_them_neck": "Dites-leur à quelle heure c'est apparu, même si c'est passé, et que vous "
    "avez reçu de la puncture sèche (dry needling) à la tête ou au cou le {date}. Ne conduisez "
    "pas vous-même.",
    "clinic_alerted": "Nous avons aussi prévenu {clinic}, qui ne le verra peut-être qu'à "
    "l'ouverture. Appelez d'abord le {emergency_number}.",
    "wrote_red_flag": "Vous nous avez écrit au sujet de votre poitrine, de votre respiration ou "
    "d'un saignement. Si vous avez une douleur à la poitrine, une douleur quand vous inspirez, "
    "le souffle court, ou un saignement qui ne s'arrête pas après 10 minutes de pression "
    "ferme, appelez le {emergency_number} immédiatement : ne nous attendez pas.",
    "wrote_weakness": "Vous nous avez écrit au sujet d'une faiblesse, de votre visage ou de "
    "votre façon de parler. Si un bras ou une jambe devient soudainement faible, si un côté de "
    "votre visage s'affaisse ou si vous avez de la difficulté à parler, appelez le "
    "{emergency_number} immédiatement, même si ça passe : ne nous attendez pas.",
    "wrote_head": "Vous nous avez écrit au sujet d'un mal de tête, de votre vue ou d'un "
    "étourdissement. Si un très fort mal de tête est apparu soudainement, si vous perdez "
    "soudainement la vue ou voyez embrouillé ou double, ou si vous êtes soudainement étourdi et "
    "ne pouvez pas garder l'équilibre, appelez le {emergency_number} immédiatement, même si ça "
    "passe : ne nous attendez pas.",
    "wrote_fever": "Vous nous avez écrit au sujet de fièvre, de frissons ou d'un grand "
    "malaise : après une puncture sèche, ce peut être le début d'une infection.",
    "infection_today": "Un point d'insertion rouge, chaud, enflé ou qui suinte, avec de la "
    "fièvre, peut être une infection à traiter aujourd'hui. Communiquez avec votre médecin ou "
    "{urgent_line} aujourd'hui : n'attendez pas notre appel. Nous avons aussi prévenu {clinic}.",
    "sepsis": "Appelez le {emergency_number} immédiatement si vous vous sentez aussi très mal : "
    "confusion, difficulté à parler ou grande somnolence, respiration très rapide ou souffle "
    "court, ou peau, lèvres ou langue bleues, grises, pâles ou marbrées.",
    "same_day": "Ce que vous nous avez dit doit être examiné aujourd'hui. Nous avons prévenu "
    "{clinic} : quelqu'un communiquera avec vous pendant les heures d'ouverture.",
    "call_clinic": "Vous pouvez appeler {clinic} au {clinic_phone}.",
    "if_nobody_calls": "Si vous n'avez reçu aucun appel d'ici la fin de la journée, ou si vous "
    "vous sentez plus mal avant, communiquez avec votre médecin ou {urgent_line}.",
    "review": "Une personne de {clinic} lira vos réponses d'ici deux jours ouvrables et "
    "communiquera avec vous au besoin.",
    "bruise": "Pour un bleu : appliquez une compresse froide enveloppée dans un linge pendant "
    "10 à 20 minutes, quelques fois par jour. Ne prenez pas d'aspirine, sauf si un médecin "
    "vous l'a prescrite.",
    "soreness_usual": "La douleur après la puncture sèche commence habituellement dans les "
    "heures qui suivent et se calme en 72 heures environ. Bouger doucement aide : gardez vos "
    "activités habituelles autant que possible.",
    "soreness_settling": "Tant mieux si la douleur diminue. Bouger doucement aide à la faire "
    "passer.",
    "late_signs": "Dans les prochaines semaines, signalez à {clinic} toute bosse, plaie ou "
    "écoulement à un point d'insertion. Rarement, une infection causée par les aiguilles "
    "n'apparaît que des semaines plus tard.",
    "red_flags": "Appelez le {emergency_number} immédiatement en cas de douleur à la poitrine, de "
    "douleur quand vous inspirez ou de souffle court, d'un saignement qui ne s'arrête pas après "
    "10 minutes de pression ferme, ou si un bras ou une jambe devient soudainement faible, si un "
    "côté du visage tombe ou si vous avez de la difficulté à parler. Appelez {clinic} au "
    "{clinic_phone} le jour même en cas de rougeur qui s'étend, de chaleur, d'enflure ou de pus à "
    "un point d'insertion, de fièvre, d'un bleu gros ou qui s'étend, d'un nouvel engourdissement "
    "ou de picotements, d'une faiblesse apparue lentement, si vous perdez connaissance, ou si "
    "vous trouvez une aiguille ou un morceau d'aiguille dans votre peau.",
    "red_flags_neck": "Comme vous avez reçu de la puncture sèche à la tête ou au cou, appelez "
    "aussi le {emergency_number} immédiatement en cas de très fort mal de tête soudain, différent "
    "de tous ceux que vous avez eus, de perte soudaine de la vue, de vue embrouillée ou double, "
    "ou d'étourdissement soudain avec de la difficulté à garder l'équilibre.",
}

ADVICE_TITLES = {
    "emergency": "Appelez le {emergency_number} immédiatement",
    "same_day": "Nous avons prévenu votre clinique",
    "review": "Merci, {first_name}",
    "none": "Merci, {first_name}",
}

PAGES = {
    "form_title": "Comment vous sentez-vous?",
    "form_heading": "Comment vous sentez-vous, {first_name}?",
    "form_lead": "À la suite de votre rendez-vous chez {clinic} le {date}.",
    "urgent_note": "Appelez le {emergency_number} immédiatement si vous avez :",
    "urgent_chest": "une douleur à la poitrine ou de la difficulté à respirer",
    "urgent_bleeding": "un saignement qui ne s'arrête pas après 10 minutes de pression ferme",
    "urgent_weakness": "un bras ou une jambe soudainement faible, un côté du visage affaissé "
    "ou de la difficulté à parler",
    "urgent_head": "après une puncture sèche à la tête ou au cou : un très fort mal de tête "
    "soudain, différent de ceux que vous avez déjà eus, une perte soudaine de la vue, une vue "
    "embrouillée ou double, ou un étourdissement soudain avec de la difficulté à garder "
    "l'équilibre",
    "form_errors": "Veuillez répondre aux questions indiquées ci-dessous",
    "too_long": "Veuillez écrire moins de {max_length} caractères.",
    "send": "Envoyer mes réponses",
    "sent": "Vos réponses ont été envoyées. Vous pouvez fermer cette page.",
    "answered_title": "Vous avez répondu le {answered}, merci",
    "answered_text": "{clinic} a reçu vos réponses. Si quelque chose a changé depuis, appelez "
    "{clinic} au {clinic_phone}. En cas d'urgence, appelez le {emergency_number}.",
    "answered_advice": "Ce que nous vous avons dit quand vous avez répondu",
    "expired_title": "Ce lien a expiré",
    "expired_text": "Les liens fonctionnent pendant sept jours après l'envoi du message. Si vous "
    "avez quelque chose à dire à {clinic}, appelez au {clinic_phone}. En cas d'urgence, "
    "appelez le {emergency_number}.",
    "gone_title": "Ce lien ne peut pas être utilisé",
    "gone_text": "Ce lien a expiré, a déjà été utilisé ou est incomplet. Si votre état vous "
    "inquiète, appelez votre clinique. En cas d'urgence, appelez les services d'urgence "
    "immédiatement.",
    "no_phone": "numéro habituel",
    "stop_title": "Arrêter les messages",
    "stop_heading": "Arrêter les messages de suivi?",
    "stop_text": "Nous ne vous enverrons plus de messages de suivi après vos traitements. Vous "
    "pouvez demander à votre clinique de les reprendre en tout temps.",
    "stop_button": "Arrêter tous les messages",
    "stopped_title": "Messages arrêtés",
    "stopped_text": "Vous ne recevrez plus de messages de suivi de notre part. Si votre état "
    "vous inquiète, appelez votre clinique.",
    "language": "Langue",
    "message_subject": "{clinic} : comment allez-vous depuis votre rendez-vous?",
    "message_hello": "Bonjour {first_name}, ici {clinic}.",
    "message_reminder_hello": "Bonjour {first_name}, petit rappel de {clinic}.",
    "message_ask": "Comment vous sentez-vous depuis votre rendez-vous du {date}? Il suffit "
    "d'environ une minute pour nous répondre :",
    "message_subject_48h": "{clinic} : une autre question, deux jours après votre rendez-vous",
    "message_ask_48h": "Nous avons une autre courte question, deux jours après votre "
    "rendez-vous du {date}. Répondez-y même si vous nous avez répondu hier :",
    "message_stop": "Pour ne plus recevoir ces messages :",
}

URGENT_LINES = {
    "GB": "NHS 111 (composez le 111 ou allez sur 111.nhs.uk)",
    "CA": "la ligne Info-Santé de votre province (811 dans la plupart des provinces)",
    "AU": "healthdirect au 1800 022 222",
    "NZ": "Healthline au 0800 611 116",
    "": "un service de soins urgents",
}
