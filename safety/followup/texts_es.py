"""What a patient reads, in Spanish: the keys and order of `texts`, side by side.

Neutral Latin American Spanish in the "usted" form, the words a patient uses (moretón,
hormigueo, falta de aire) rather than clinical ones. Each safety text keeps the English
meaning exactly: the same symptoms, the same 10 minutes of pressure, the same "call now".
Placeholders in braces are kept as they are; the emergency number is never written here,
it follows the clinic's country.
"""

QUESTIONS = {
    "soreness": {
        "text": "¿Cuánto le duelen ahora las zonas donde se colocaron las agujas?",
        "hint": "0 significa nada de dolor; 10, el peor dolor que pueda imaginar.",
        "missing": "Elija un número del 0 (nada de dolor) al 10 (el peor).",
    },
    "trend": {
        "text": "Comparado con justo después de su cita, ¿está…",
        "options": {"better": "Mejor", "same": "Más o menos igual", "worse": "Peor"},
        "missing": "Díganos si está mejor, igual o peor.",
    },
    "bleeding": {
        "text": "¿Ha sangrado alguno de los puntos de las agujas desde que se fue?",
        "options": {
            "none": "No",
            "stopped": "Sí, pero dejó de sangrar cuando lo presioné",
            "wont_stop": "Sí, y sigue sangrando después de 10 minutos de presión firme",
        },
        "missing": "Díganos si ha sangrado desde que se fue.",
    },
    "bruising": {
        "text": "¿Tiene algún moretón alrededor de los puntos de las agujas?",
        "options": {
            "none": "No",
            "small": "Un moretón pequeño",
            "large": "Un moretón grande, o uno que se está extendiendo",
        },
        "missing": "Díganos si tiene algún moretón.",
    },
    "signs": {
        "text": "¿Nota alguno de estos signos en un punto de las agujas?",
        "hint": "Marque todos los que tenga, o no marque ninguno si no tiene ninguno.",
        "options": {
            "redness": "Enrojecimiento que se está extendiendo",
            "warmth": "Calor en la zona",
            "swelling": "Hinchazón",
            "pus": "Pus u otra secreción",
            "fever": "Fiebre, o sensación de calor con escalofríos",
        },
        "missing": "Elija entre los signos de la lista.",
    },
    "numbness": {
        "text": "Desde la cita, ¿ha notado adormecimiento, hormigueo o debilidad que no tenía "
        "antes?",
        "options": {
            "no": "No",
            "yes": "Sí, adormecimiento u hormigueo, o debilidad que apareció poco a poco",
            "sudden": "Sí, y empezó de repente: un brazo o una pierna débil (más que adolorido "
            "donde estuvieron las agujas), un lado de la cara caído, o dificultad para hablar",
        },
        "missing": "Díganos si ha tenido adormecimiento, hormigueo o debilidad.",
    },
    "head_signs": {
        "text": "Desde la cita, ¿le ha aparecido de repente alguno de estos síntomas, aunque ya "
        "se le haya pasado: un dolor de cabeza muy fuerte, distinto a cualquier otro que haya "
        "tenido; pérdida de la vista, vista borrosa o visión doble; o mareo con dificultad para "
        "mantener el equilibrio o caminar derecho?",
        "options": {"no": "No", "yes": "Sí"},
        "hint": "El dolor o la rigidez donde estuvieron las agujas, o un dolor de cabeza leve "
        "como otros que ha tenido, es común después de la punción: en ese caso responda No.",
        "missing": "Responda esta pregunta sobre el dolor de cabeza, la vista y el equilibrio.",
    },
    "fainted": {
        "text": "¿Se ha desmayado desde que salió de la clínica?",
        "options": {"no": "No", "yes": "Sí"},
        "missing": "Díganos si se ha desmayado.",
    },
    "needle_found": {
        "text": "¿Ha encontrado una aguja, o un trozo de aguja, en su piel?",
        "options": {"no": "No", "yes": "Sí"},
        "missing": "Díganos si ha encontrado una aguja en su piel.",
    },
    "chest": {
        "text": "Desde la cita, ¿ha tenido dolor en el pecho, dolor al tomar aire, o falta de "
        "aire?",
        "options": {"no": "No", "yes": "Sí"},
        "missing": "Responda esta pregunta sobre su pecho y su respiración.",
    },
    "other": {
        "text": "¿Hay algo más que quiera contarnos? (opcional)",
        "hint": "Una persona de la clínica lee todo lo que se escribe aquí en un plazo de dos "
        "días hábiles. No espere si tiene dolor en el pecho, dificultad para respirar, un "
        "sangrado que no se detiene, o debilidad repentina o dificultad para hablar: llame al "
        "{emergency_number}.",
    },
}

FORM_INTROS = {
    "24h": "Le tomará más o menos un minuto.",
    "48h": "Una pregunta sobre su pecho y su respiración, porque le colocaron agujas cerca del "
    "pecho, la espalda, el hombro o el cuello.",
    "72h": "Queremos comprobar que su dolor está disminuyendo.",
    "7d": "Queremos revisar por última vez los puntos de las agujas.",
}

ADVICE = {
    "press_first": "Siga presionando con firmeza el punto que sangra con un paño o una gasa "
    "limpios. No lo levante para mirar.",
    "call_emergency": "Llame al {emergency_number} ahora mismo.",
    "tell_them": "Dígales que el {date} le hicieron punción seca cerca del pecho, la espalda, "
    "el hombro o el cuello.",
    "tell_them_bleeding": "Dígales que un punto de la punción seca del {date} sigue sangrando "
    "después de 10 minutos de presión firme, y si toma algún medicamento que hace la sangre "
    "más líquida.",
    "tell_them_weakness": "Dígales a qué hora empezó la debilidad, la cara caída o la "
    "dificultad para hablar, aunque ya se le haya pasado, y que el {date} le hicieron punción "
    "seca y en qué parte del cuerpo. No maneje usted mismo.",
    "tell_them_neck": "Dígales a qué hora empezó, aunque ya se le haya pasado, y que el {date} "
    "le hicieron punción seca en la cabeza o el cuello. No maneje usted mismo.",
    "clinic_alerted": "También hemos avisado a {clinic}, que quizá no lo vea hasta que abra. "
    "Lo primero es llamar al {emergency_number}.",
    "wrote_red_flag": "Nos escribió sobre su pecho, su respiración o un sangrado. Si tiene "
    "dolor en el pecho, dolor al tomar aire, falta de aire, o un sangrado que no se detiene "
    "después de 10 minutos de presión firme, llame al {emergency_number} ahora mismo: no nos "
    "espere.",
    "wrote_weakness": "Nos escribió sobre debilidad, su cara o su forma de hablar. Si de "
    "repente un brazo o una pierna se debilita, se le cae un lado de la cara o tiene dificultad "
    "para hablar, llame al {emergency_number} ahora mismo, aunque se le pase: no nos espere.",
    "wrote_head": "Nos escribió sobre un dolor de cabeza, su vista o un mareo. Si de repente "
    "tiene un dolor de cabeza muy fuerte, pierde la vista o ve borroso o doble, o se marea y no "
    "puede mantener el equilibrio, llame al {emergency_number} ahora mismo, aunque se le pase: "
    "no nos espere.",
    "wrote_fever": "Nos escribió sobre fiebre, escalofríos o que se siente muy mal: después de "
    "una punción seca, puede ser el comienzo de una infección.",
    "infection_today": "Un punto de punción rojo, caliente, hinchado o que supura, con fiebre, "
    "puede ser una infección que hay que tratar hoy. Contacte hoy con su médico o con "
    "{urgent_line}: no espere a que le llamemos. También hemos avisado a {clinic}.",
    "sepsis": "Llame al {emergency_number} ahora mismo si además se siente muy mal: confusión, "
    "dificultad para hablar o mucho sueño, respiración muy rápida o falta de aire, o la piel, "
    "los labios o la lengua azulados, grises, pálidos o con manchas.",
    "same_day": "Lo que nos ha contado se debe revisar hoy. Hemos avisado a {clinic}: alguien "
    "se comunicará con usted en el horario de atención.",
    "call_clinic": "Puede llamar a {clinic} al {clinic_phone}.",
    "if_nobody_calls": "Si nadie le ha llamado antes de que termine el día, o si se siente peor "
    "antes, comuníquese con su médico o con {urgent_line}.",
    "review": "Una persona de {clinic} leerá sus respuestas en un plazo de dos días hábiles y "
    "se comunicará con usted si hace falta.",
    "bruise": "Para un moretón: póngase una compresa fría envuelta en un paño durante 10 a 20 "
    "minutos, varias veces al día. No tome aspirina a menos que un médico se la haya recetado.",
    "soreness_usual": "El dolor después de la punción seca suele empezar a las pocas horas y se "
    "calma en unas 72 horas. Moverse con suavidad ayuda: siga con sus actividades normales en "
    "la medida de lo posible.",
    "soreness_settling": "Nos alegra saber que el dolor está disminuyendo. Moverse con "
    "suavidad ayuda a que pase.",
    "late_signs": "En las próximas semanas, avise a {clinic} si nota un bulto, una llaga o "
    "cualquier secreción en un punto de las agujas. En casos raros, una infección por las "
    "agujas aparece solo semanas después.",
    "red_flags": "Llame al {emergency_number} de inmediato si tiene dolor en el pecho, dolor al "
    "tomar aire o falta de aire, un sangrado que no se detiene después de 10 minutos de presión "
    "firme, o si de repente un brazo o una pierna se debilita, se le cae un lado de la cara o "
    "tiene dificultad para hablar. Llame a {clinic} al {clinic_phone} el mismo día si nota "
    "enrojecimiento que se extiende, calor, hinchazón o pus en un punto de las agujas, fiebre, un "
    "moretón grande o que se extiende, adormecimiento u hormigueo nuevos, debilidad que apareció "
    "poco a poco, si se desmaya, o si encuentra una aguja o un trozo de aguja en su piel.",
    "red_flags_neck": "Como le hicieron punción seca en la cabeza o el cuello, llame también al "
    "{emergency_number} de inmediato si tiene de repente un dolor de cabeza muy fuerte, distinto "
    "a cualquier otro que haya tenido, pérdida de la vista, vista borrosa o visión doble, o mareo "
    "con dificultad para mantener el equilibrio.",
}

ADVICE_TITLES = {
    "emergency": "Llame al {emergency_number} ahora mismo",
    "same_day": "Hemos avisado a su clínica",
    "review": "Gracias, {first_name}",
    "none": "Gracias, {first_name}",
}

PAGES = {
    "form_title": "¿Cómo se siente?",
    "form_heading": "¿Cómo se siente, {first_name}?",
    "form_lead": "Después de su cita en {clinic} el {date}.",
    "urgent_note": "Llame al {emergency_number} ahora mismo si tiene:",
    "urgent_chest": "dolor en el pecho o dificultad para respirar",
    "urgent_bleeding": "un sangrado que no se detiene después de 10 minutos de presión firme",
    "urgent_weakness": "un brazo o una pierna débil de repente, un lado de la cara caído o "
    "dificultad para hablar",
    "urgent_head": "si le hicieron punción seca en la cabeza o el cuello: un dolor de cabeza muy "
    "fuerte y repentino, distinto a cualquier otro; pérdida repentina de la vista, vista borrosa "
    "o visión doble; o mareo repentino con dificultad para mantener el equilibrio",
    "form_errors": "Responda las preguntas marcadas abajo",
    "too_long": "Escriba menos de {max_length} caracteres.",
    "send": "Enviar mis respuestas",
    "sent": "Sus respuestas se enviaron. Puede cerrar esta página.",
    "answered_title": "Respondió el {answered}, gracias",
    "answered_text": "{clinic} tiene sus respuestas. Si algo ha cambiado desde entonces, llame "
    "a {clinic} al {clinic_phone}. En una emergencia, llame al {emergency_number}.",
    "answered_advice": "Lo que le dijimos cuando respondió",
    "expired_title": "Este enlace ha caducado",
    "expired_text": "Los enlaces funcionan durante siete días después del envío del mensaje. "
    "Si necesita decirle algo a {clinic}, llame al {clinic_phone}. En una emergencia, llame "
    "al {emergency_number}.",
    "gone_title": "Este enlace no se puede usar",
    "gone_text": "Este enlace ha caducado, ya se usó o está incompleto. Si le preocupa cómo se "
    "siente, llame a su clínica. Si es una emergencia, llame ahora mismo a los servicios de "
    "emergencia.",
    "no_phone": "número de siempre",
    "stop_title": "Dejar de recibir mensajes",
    "stop_heading": "¿Dejar de recibir mensajes de seguimiento?",
    "stop_text": "No le enviaremos más mensajes de seguimiento después de sus tratamientos. "
    "Puede pedirle a su clínica que se los vuelva a enviar en cualquier momento.",
    "stop_button": "Dejar de recibir todos los mensajes",
    "stopped_title": "Mensajes desactivados",
    "stopped_text": "Ya no recibirá mensajes de seguimiento de nuestra parte. Si le preocupa "
    "cómo se siente, llame a su clínica.",
    "language": "Idioma",
    "message_subject": "{clinic}: ¿cómo se siente después de su cita?",
    "message_hello": "Hola, {first_name}. Le escribimos desde {clinic}.",
    "message_reminder_hello": "Hola, {first_name}. Un breve recordatorio de {clinic}.",
    "message_ask": "¿Cómo se siente después de su cita del {date}? Contarnos le tomará más o "
    "menos un minuto:",
    "message_subject_48h": "{clinic}: una pregunta más, dos días después de su cita",
    "message_ask_48h": "Tenemos una pregunta breve más, dos días después de su cita del {date}. "
    "Respóndala aunque ya nos haya contestado ayer:",
    "message_stop": "Para dejar de recibir estos mensajes:",
}

URGENT_LINES = {
    "GB": "NHS 111 (llame al 111 o visite 111.nhs.uk)",
    "CA": "la línea de salud de su provincia (811 en la mayoría de las provincias)",
    "AU": "healthdirect al 1800 022 222",
    "NZ": "Healthline al 0800 611 116",
    "": "un servicio de atención urgente",
}
